// Command deliveries is DeliveriesFunction: the scheduled retries of the calls to
// marketplace sites.
package main

import (
	"github.com/example/gdpr/internal/handlers/deliveriesjob"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	lambdamain.Run(func(p *ports.Ports) (any, error) { return deliveriesjob.New(p), nil })
}
