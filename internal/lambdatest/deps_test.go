package lambdatest_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	gdpr "github.com/example/gdpr"
)

// functionDeps lists, for each function of template.yaml, the packages its binary links
// (go list -deps, build tags as the Makefile builds it).
func functionDeps(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-tags", "lambda.norpc", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "../../functions/...").Output()
	if err != nil {
		t.Fatalf("go list: %v%s", err, stderrOf(err))
	}
	byFolder := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		folder, _ := strings.CutPrefix(fields[0], "github.com/example/gdpr/")
		byFolder[folder] = fields[1:]
	}
	deps := map[string][]string{}
	for _, fn := range template(t).Functions() {
		d, ok := byFolder[fn.Folder]
		if !ok {
			t.Fatalf("%s: no package %s", fn.LogicalID, fn.Folder)
		}
		deps[fn.LogicalID] = d
	}
	return deps
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return "\n" + string(ee.Stderr)
	}
	return ""
}

func links(deps []string, prefix string) bool {
	return slices.ContainsFunc(deps, func(p string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") })
}

// TestFunctionsLinkWhatTheyDeclare: a function's binary links the SDK client of an adapter only
// when the template gives it that adapter's setting, and no function links SQLite.
func TestFunctionsLinkWhatTheyDeclare(t *testing.T) {
	deps := functionDeps(t)
	for _, fn := range template(t).Functions() {
		d := deps[fn.LogicalID]
		if links(d, "modernc.org/sqlite") {
			t.Errorf("%s links SQLite", fn.LogicalID)
		}
		for _, c := range []struct{ setting, pkg string }{
			{"BUCKET_NAME", "github.com/aws/aws-sdk-go-v2/service/s3"},
			{"SENDER_EMAIL", "github.com/aws/aws-sdk-go-v2/service/ses"},
			{"SENDER_EMAIL", "github.com/aws/aws-sdk-go-v2/service/sesv2"},
			{"GDPR_SECRET_ARN", "github.com/aws/aws-sdk-go-v2/service/secretsmanager"},
			{"TABLE_NAME", "github.com/aws/aws-sdk-go-v2/service/dynamodb"},
		} {
			if links(d, c.pkg) && !slices.Contains(fn.Env, c.setting) {
				t.Errorf("%s links %s but is not given %s: it declares no such adapter", fn.LogicalID, c.pkg, c.setting)
			}
		}
	}
}

// TestSecretOnlyWhereUsed: the master secret's ARN and the right to read it go to exactly the
// functions whose binaries read it (those that link internal/secretsmanager).
func TestSecretOnlyWhereUsed(t *testing.T) {
	deps := functionDeps(t)
	var doc struct {
		Resources map[string]struct {
			Type       string    `yaml:"Type"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
		Globals yaml.Node `yaml:"Globals"`
	}
	if err := yaml.Unmarshal(gdpr.Template, &doc); err != nil {
		t.Fatal(err)
	}
	if mentions(&doc.Globals, "secretsmanager:GetSecretValue") || mentions(&doc.Globals, "MasterSecret") {
		t.Error("Globals give every function the master secret")
	}
	for _, fn := range template(t).Functions() {
		uses := links(deps[fn.LogicalID], "github.com/example/gdpr/internal/secretsmanager")
		props := doc.Resources[fn.LogicalID].Properties
		if got := slices.Contains(fn.Env, "GDPR_SECRET_ARN"); got != uses {
			t.Errorf("%s: GDPR_SECRET_ARN given %v, but reads the secret %v", fn.LogicalID, got, uses)
		}
		if got := mentions(&props, "secretsmanager:GetSecretValue"); got != uses {
			t.Errorf("%s: may call GetSecretValue %v, but reads the secret %v", fn.LogicalID, got, uses)
		}
		if !uses && mentions(&props, "MasterSecret") {
			t.Errorf("%s names MasterSecret but does not read it", fn.LogicalID)
		}
	}
}

// mentions tells whether a scalar under n equals s, or is a !Ref or !GetAtt of it.
func mentions(n *yaml.Node, s string) bool {
	if n.Kind == yaml.ScalarNode && (n.Value == s || strings.HasPrefix(n.Value, s+".")) {
		return true
	}
	return slices.ContainsFunc(n.Content, func(c *yaml.Node) bool { return mentions(c, s) })
}
