// Command requests is RequestsFunction: data subject requests, their verification, status and
// export download, the operator's actions, the audit log, tenant settings and marketplace
// sites (/v1/requests*, /v1/public/*, /v1/audit*, /v1/tenant, /v1/systems*). It needs the
// table, the master secret, mail and the objects store (it presigns downloads).
package main

import (
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/requestsapi"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/s3"
	"github.com/example/gdpr/internal/secretsmanager"
	"github.com/example/gdpr/internal/ses"
)

func main() {
	lambdamain.HTTP(requestsapi.New, dynamo.FromEnv(), secretsmanager.FromEnv(), ses.FromEnv(), s3.FromEnv())
}
