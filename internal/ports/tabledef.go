package ports

import (
	"fmt"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/samtemplate"
)

// TableDef is the shape of the table as template.yaml declares it.
func TableDef() (samtemplate.TableDef, error) {
	t, err := samtemplate.Parse(gdpr.Template)
	if err != nil {
		return samtemplate.TableDef{}, fmt.Errorf("ports: %w", err)
	}
	def, err := t.Table("Table")
	if err != nil {
		return samtemplate.TableDef{}, fmt.Errorf("ports: %w", err)
	}
	return def, nil
}
