// Command retention is RetentionFunction: the scheduled storage limitation and deadline jobs.
package main

import (
	"github.com/example/gdpr/internal/handlers/retentionjob"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	lambdamain.Run(func(p *ports.Ports) (any, error) { return retentionjob.New(p), nil })
}
