package samtemplate_test

import (
	"testing"

	"go.yaml.in/yaml/v3"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/tenant"
)

// TestExportLifecycle: the bucket's lifecycle rule, the second net under the retention job,
// never deletes an export whose link still works: it waits a day past the longest link a
// tenant may set.
func TestExportLifecycle(t *testing.T) {
	var tpl struct {
		Resources struct {
			ExportBucket struct {
				Properties struct {
					LifecycleConfiguration struct {
						Rules []struct {
							ID               string `yaml:"Id"`
							Prefix           string `yaml:"Prefix"`
							ExpirationInDays int    `yaml:"ExpirationInDays"`
						} `yaml:"Rules"`
					} `yaml:"LifecycleConfiguration"`
				} `yaml:"Properties"`
			} `yaml:"ExportBucket"`
		} `yaml:"Resources"`
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(gdpr.Template, &doc); err != nil {
		t.Fatal(err)
	}
	stripTags(&doc)
	if err := doc.Decode(&tpl); err != nil {
		t.Fatal(err)
	}
	for _, r := range tpl.Resources.ExportBucket.Properties.LifecycleConfiguration.Rules {
		if r.ID == "ExpireExports" {
			if r.Prefix != "exports/" || r.ExpirationInDays != tenant.MaxExportLinkDays+1 {
				t.Fatalf("ExpireExports: prefix %q after %d days, want exports/ after %d", r.Prefix, r.ExpirationInDays, tenant.MaxExportLinkDays+1)
			}
			return
		}
	}
	t.Fatal("the export bucket has no ExpireExports rule")
}

// stripTags drops CloudFormation's short-form tags (!Ref, !Sub, ...), which yaml cannot decode
// into plain values.
func stripTags(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode || n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if len(n.Tag) > 1 && n.Tag[0] == '!' && n.Tag[1] != '!' {
			n.Tag = ""
		}
	}
	for _, c := range n.Content {
		stripTags(c)
	}
}
