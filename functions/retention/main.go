// Command retention is RetentionFunction: the scheduled storage limitation and deadline jobs.
// It needs the table, the master secret, mail (DPO reminders, expired requests told) and the
// objects store (expired exports are deleted). Each run's counts also go to CloudWatch as
// embedded metrics, in the stage's namespace (METRICS_NAMESPACE).
package main

import (
	"os"
	"time"

	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/retentionjob"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/s3"
	"github.com/example/gdpr/internal/secretsmanager"
	"github.com/example/gdpr/internal/ses"
)

func main() {
	lambdamain.Schedule(func(p *ports.Ports) (retentionjob.Handler, error) {
		h, err := retentionjob.New(p)
		return retentionjob.WithMetrics(h, os.Getenv("METRICS_NAMESPACE"), os.Stdout, time.Now), err
	}, dynamo.FromEnv(), s3.FromEnv(), secretsmanager.FromEnv(), ses.FromEnv())
}
