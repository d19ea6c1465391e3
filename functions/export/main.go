// Command export is ExportFunction: access and portability requests fulfilled from the
// table's stream with a ZIP export and an emailed download link.
package main

import (
	"github.com/example/gdpr/internal/handlers/exportfn"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	lambdamain.Run(func(p *ports.Ports) (any, error) { return exportfn.New(p) })
}
