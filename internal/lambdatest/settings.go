package lambdatest

import (
	"fmt"
	"slices"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/samtemplate"
)

// sampleSettings has a stand-in for every environment variable the template sets. A new
// variable in the template must get one here, or Settings refuses the function.
var sampleSettings = map[string]string{
	"TABLE_NAME":   "gdpr-test",
	"BUCKET_NAME":  "gdpr-test-exports",
	"SENDER_EMAIL": "privacy@example.org",
	// The secret itself is read from Secrets Manager on the first invocation: under the
	// emulator, from the closed endpoint BaseEnv names, so the invocation fails fast.
	"GDPR_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:gdpr-test-AbCdEf",
	// The mail adapter sends through it; under the emulator no mail goes out.
	"SES_CONFIGURATION_SET": "gdpr-test",
	// How many shards of a notification run are worked at once (NotifyFunction, NoticesFunction).
	"NOTIFY_CONCURRENCY": "4",
	// The API's base URL that emailed download links start with (ExportFunction).
	"PUBLIC_BASE_URL": "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
	// The namespace of the retention job's embedded metrics (RetentionFunction).
	"METRICS_NAMESPACE": "gdpr/test",
}

// TemplateFunction returns the function with that logical id from template.yaml.
func TemplateFunction(logicalID string) (samtemplate.Function, error) {
	tpl, err := samtemplate.Parse(gdpr.Template)
	if err != nil {
		return samtemplate.Function{}, err
	}
	fns := tpl.Functions()
	i := slices.IndexFunc(fns, func(f samtemplate.Function) bool { return f.LogicalID == logicalID })
	if i < 0 {
		return samtemplate.Function{}, fmt.Errorf("lambdatest: no function %s in template.yaml", logicalID)
	}
	return fns[i], nil
}

// Settings returns NAME=value for every environment variable the template gives fn, with
// sample values, so a function that checks its settings at start starts.
func Settings(fn samtemplate.Function) ([]string, error) {
	var env []string
	for _, name := range fn.Env {
		v, ok := sampleSettings[name]
		if !ok {
			return nil, fmt.Errorf("lambdatest: %s needs %s, which has no sample value", fn.LogicalID, name)
		}
		env = append(env, name+"="+v)
	}
	return env, nil
}
