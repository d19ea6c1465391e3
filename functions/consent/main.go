// Command consent is ConsentFunction: the consent ledger and state, and the subject's
// profile and devices (/v1/consents*, /v1/subjects*). It needs the table and the master secret.
package main

import (
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/consentapi"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/secretsmanager"
)

func main() { lambdamain.HTTP(consentapi.New, dynamo.FromEnv(), secretsmanager.FromEnv()) }
