// Command requests is RequestsFunction: data subject requests, their verification and status,
// the operator's actions and the audit log (/v1/requests*, /v1/public/*, /v1/audit*). It needs
// the table, the master secret and mail.
package main

import (
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/requestsapi"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/secretsmanager"
	"github.com/example/gdpr/internal/ses"
)

func main() {
	lambdamain.HTTP(requestsapi.New, dynamo.FromEnv(), secretsmanager.FromEnv(), ses.FromEnv())
}
