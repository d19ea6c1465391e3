// Command export is ExportFunction: access and portability requests fulfilled from the
// table's stream with a ZIP export in the bucket and an emailed download link. It needs the
// table, the objects store, mail and the master secret (links are signed with it).
package main

import (
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/exportfn"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/s3"
	"github.com/example/gdpr/internal/secretsmanager"
	"github.com/example/gdpr/internal/ses"
)

func main() {
	lambdamain.Stream(exportfn.New, dynamo.FromEnv(), s3.FromEnv(), ses.FromEnv(), secretsmanager.FromEnv())
}
