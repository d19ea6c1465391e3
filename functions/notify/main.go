// Command notify is NotifyFunction: the policy routes, the stream record of a published
// version (which starts its notification run) and the schedule that continues runs.
package main

import (
	"github.com/example/gdpr/internal/handlers/notifyfn"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	lambdamain.Run(func(p *ports.Ports) (any, error) {
		f, err := notifyfn.New(p)
		if err != nil {
			return nil, err
		}
		return f.Handle, nil
	})
}
