// Command notify is NotifyFunction: the stream record of a published policy version starts
// its notification run. It needs the table, mail and the master secret (bounce marks are keyed
// by it).
package main

import (
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/notifyfn"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/secretsmanager"
	"github.com/example/gdpr/internal/ses"
)

func main() {
	lambdamain.Stream(notifyfn.New, dynamo.FromEnv(), ses.FromEnv(), secretsmanager.FromEnv())
}
