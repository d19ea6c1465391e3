// Command authorizer is AuthorizerFunction: the HTTP API's Lambda authorizer, which turns an
// API key into the caller's tenant and role.
package main

import (
	"github.com/example/gdpr/internal/authorizer"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	lambdamain.Run(func(p *ports.Ports) (any, error) { return authorizer.New(p).Handle, nil })
}
