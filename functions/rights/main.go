// Command rights is RightsFunction: erasure, rectification, restriction and objection
// requests fulfilled from the table's stream.
package main

import (
	"github.com/example/gdpr/internal/handlers/rightsfn"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	lambdamain.Run(func(p *ports.Ports) (any, error) { return rightsfn.New(p), nil })
}
