// Command notices is NoticesFunction: the schedule that continues every notification run not
// done. It needs the table, mail and the master secret (bounce marks are keyed by it).
package main

import (
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/notifyfn"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/secretsmanager"
	"github.com/example/gdpr/internal/ses"
)

func main() {
	lambdamain.Schedule(notifyfn.NewNotices, dynamo.FromEnv(), ses.FromEnv(), secretsmanager.FromEnv())
}
