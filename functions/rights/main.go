// Command rights is RightsFunction: erasure, rectification, restriction and objection
// requests fulfilled from the table's stream, in our stores and at the marketplace sites. It
// needs the table, the objects store (an erasure deletes exports), mail and the master secret.
package main

import (
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/rightsfn"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/s3"
	"github.com/example/gdpr/internal/secretsmanager"
	"github.com/example/gdpr/internal/ses"
)

func main() {
	lambdamain.Stream(rightsfn.New, dynamo.FromEnv(), s3.FromEnv(), ses.FromEnv(), secretsmanager.FromEnv())
}
