// Command retention is RetentionFunction: the scheduled storage limitation and deadline jobs.
package main

import (
	"os"
	"time"

	"github.com/example/gdpr/internal/handlers/retentionjob"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	lambdamain.Run(func(p *ports.Ports) (any, error) {
		// Each run's counts also go to CloudWatch as metrics, in the stage's namespace.
		return retentionjob.WithMetrics(retentionjob.New(p), os.Getenv("METRICS_NAMESPACE"), os.Stdout, time.Now), nil
	})
}
