// Command consent is ConsentFunction: the consent ledger and state, and the subject's
// profile and devices (/v1/consents*, /v1/subjects*).
package main

import (
	"github.com/example/gdpr/internal/handlers/consentapi"
	"github.com/example/gdpr/internal/lambdamain"
)

func main() { lambdamain.RunAPI(consentapi.New) }
