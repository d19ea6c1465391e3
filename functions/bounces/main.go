// Command bounces is BouncesFunction: SES's permanent bounces, from an EventBridge rule, mark
// the addresses undeliverable in their tenants. It needs the table and the master secret (the
// mark is keyed by the address's keyed hash); it sends no mail.
package main

import (
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/bouncesfn"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/secretsmanager"
)

func main() { lambdamain.Event(bouncesfn.New, dynamo.FromEnv(), secretsmanager.FromEnv()) }
