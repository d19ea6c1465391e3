// Command retention is RetentionFunction: the scheduled storage limitation and deadline jobs.
// It needs the table, the master secret and mail (expired requests are told so).
package main

import (
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/retentionjob"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/secretsmanager"
	"github.com/example/gdpr/internal/ses"
)

func main() {
	lambdamain.Schedule(retentionjob.New, dynamo.FromEnv(), secretsmanager.FromEnv(), ses.FromEnv())
}
