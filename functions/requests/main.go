// Command requests is RequestsFunction: data subject requests, their verification and status,
// the operator's actions and the audit log (/v1/requests*, /v1/public/*, /v1/audit*).
package main

import (
	"github.com/example/gdpr/internal/handlers/requestsapi"
	"github.com/example/gdpr/internal/lambdamain"
)

func main() { lambdamain.RunAPI(requestsapi.New) }
