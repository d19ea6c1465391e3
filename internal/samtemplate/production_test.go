package samtemplate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	gdpr "github.com/example/gdpr"
)

// TestProductionReadiness reads template.yaml as a reviewer does before production, for every
// function it has and any it gains: what fails after its retries lands in an encrypted queue
// with an alarm on its depth, every alarm reaches the alarm topic, the logs are encrypted and
// at the template's level, and no policy grants an action nobody calls or no IAM action.
func TestProductionReadiness(t *testing.T) {
	tpl, err := Parse(gdpr.Template)
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range productionProblems(tpl) {
		t.Error(problem)
	}
}

// productionProblems lists what TestProductionReadiness finds missing in tpl.
func productionProblems(tpl *Template) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	res := tpl.Resources
	props := func(id string) *yaml.Node {
		r := res[id]
		return &r.Properties
	}
	ofType := func(typ string) []string {
		var ids []string
		for id, r := range res {
			if r.Type == typ {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		return ids
	}

	// Alarms: each notifies the stack's encrypted topic.
	topic, ok := res["AlarmTopic"]
	if !ok || topic.Type != "AWS::SNS::Topic" || path(&topic.Properties, "KmsMasterKeyId") == nil {
		fail("no KMS-encrypted AWS::SNS::Topic AlarmTopic")
	}
	type alarm struct{ namespace, metric, dimension string }
	var alarms []alarm
	for _, id := range ofType("AWS::CloudWatch::Alarm") {
		p := props(id)
		actions := path(p, "AlarmActions")
		if actions == nil || !slices.ContainsFunc(actions.Content, func(n *yaml.Node) bool { r, ok := ref(n); return ok && r == "AlarmTopic" }) {
			fail("alarm %s does not notify AlarmTopic", id)
		}
		a := alarm{namespace: scalar(path(p, "Namespace")), metric: scalar(path(p, "MetricName"))}
		if dims := path(p, "Dimensions"); dims != nil && len(dims.Content) > 0 {
			v := path(dims.Content[0], "Value")
			if r, ok := ref(v); ok {
				a.dimension = r
			} else if r, attr, ok := getAtt(v); ok {
				a.dimension = r + "." + attr
			}
		}
		alarms = append(alarms, a)
	}
	hasAlarm := func(namespace, metric, dimension string) bool {
		return slices.Contains(alarms, alarm{namespace, metric, dimension})
	}
	// queueWatched: q is an encrypted queue of the template with an alarm on its depth.
	queueWatched := func(what, q string) {
		r, ok := res[q]
		if !ok || r.Type != "AWS::SQS::Queue" {
			fail("%s: failure destination %q is not an SQS queue of the template", what, q)
			return
		}
		if path(&r.Properties, "KmsMasterKeyId") == nil && scalar(path(&r.Properties, "SqsManagedSseEnabled")) != "true" {
			fail("%s: queue %s is not encrypted", what, q)
		}
		if !hasAlarm("AWS/SQS", "ApproximateNumberOfMessagesVisible", q+".QueueName") {
			fail("%s: no alarm on the depth of %s", what, q)
		}
	}

	for _, s := range tpl.StreamTriggers() {
		queueWatched(s.Function+"."+s.Name, s.OnFailure)
	}
	async := map[string]bool{}
	for _, s := range tpl.Schedules() {
		async[s.Function] = true
		ev := path(props(s.Function), "Events", s.Name, "Properties")
		q, attr, ok := getAtt(path(ev, "DeadLetterConfig", "Arn"))
		if !ok || attr != "Arn" {
			fail("schedule %s.%s has no DeadLetterConfig Arn of a queue", s.Function, s.Name)
			continue
		}
		queueWatched("schedule "+s.Function+"."+s.Name, q)
	}
	for _, r := range tpl.EventRules() {
		async[r.Function] = true
	}
	for fn := range async {
		d := path(props(fn), "EventInvokeConfig", "DestinationConfig", "OnFailure")
		q, attr, ok := getAtt(path(d, "Destination"))
		if !ok || attr != "Arn" || scalar(path(d, "Type")) != "SQS" {
			fail("%s is invoked asynchronously but has no EventInvokeConfig OnFailure SQS destination", fn)
			continue
		}
		if path(props(q), "KmsMasterKeyId") == nil {
			fail("%s: its failure queue %s is not encrypted with the stack's key", fn, q)
		}
		queueWatched(fn+" (asynchronous)", q)
	}

	var globals struct {
		LoggingConfig map[string]yaml.Node `yaml:"LoggingConfig"`
	}
	if err := decodeOptional(&tpl.Globals.Function, &globals); err != nil {
		fail("Globals.Function: %v", err)
	}
	for _, fn := range tpl.Functions() {
		id := fn.LogicalID
		p := props(id)
		for _, metric := range []string{"Errors", "Throttles", "Duration"} {
			if !hasAlarm("AWS/Lambda", metric, id) {
				fail("%s has no %s alarm", id, metric)
			}
		}
		for _, aid := range ofType("AWS::CloudWatch::Alarm") {
			ap := props(aid)
			if scalar(path(ap, "MetricName")) != "Duration" {
				continue
			}
			if r, _ := ref(path(path(ap, "Dimensions").Content[0], "Value")); r != id {
				continue
			}
			ms, err := strconv.ParseFloat(scalar(path(ap, "Threshold")), 64)
			if err != nil || ms <= 0 || ms >= float64(fn.Timeout.Milliseconds()) {
				fail("%s: duration alarm threshold %v ms, want below its timeout %v", aid, ms, fn.Timeout)
			}
		}
		// Lambda's log controls: the level from the template, not a variable of ours.
		logging := map[string]*yaml.Node{}
		for k, v := range globals.LoggingConfig {
			logging[k] = &v
		}
		if lc := path(p, "LoggingConfig"); lc != nil {
			for i := 0; i+1 < len(lc.Content); i += 2 {
				logging[lc.Content[i].Value] = lc.Content[i+1]
			}
		}
		if r, ok := ref(logging["ApplicationLogLevel"]); !ok || r != "LogLevel" || scalar(logging["LogFormat"]) != "JSON" || scalar(logging["SystemLogLevel"]) == "" {
			fail("%s: LoggingConfig wants LogFormat JSON, ApplicationLogLevel !Ref LogLevel and a SystemLogLevel", id)
		}
		if g, ok := ref(logging["LogGroup"]); !ok || res[g].Type != "AWS::Logs::LogGroup" {
			fail("%s: its LogGroup is not a log group of the template", id)
		}
		if slices.Contains(fn.Env, "SENDER_EMAIL") && !slices.Contains(fn.Env, "SES_CONFIGURATION_SET") {
			fail("%s sends mail but not through the configuration set (SES_CONFIGURATION_SET)", id)
		}
		problems = append(problems, policyProblems(id, path(p, "Policies"))...)
	}

	for _, id := range ofType("AWS::Logs::LogGroup") {
		if _, attr, ok := getAtt(path(props(id), "KmsKeyId")); !ok || attr != "Arn" {
			fail("log group %s is not encrypted with a key's ARN (KmsKeyId)", id)
		}
	}
	for _, id := range ofType("AWS::DynamoDB::Table") {
		if scalar(path(props(id), "DeletionProtectionEnabled")) != "true" {
			fail("table %s has no DeletionProtectionEnabled", id)
		}
	}
	for _, a := range []alarm{
		{"AWS/ApiGateway", "5xx", "Api"},
		{"AWS/SES", "Reputation.BounceRate", ""},
		{"AWS/SES", "Reputation.ComplaintRate", ""},
	} {
		if !hasAlarm(a.namespace, a.metric, a.dimension) {
			fail("no alarm on %s %s", a.namespace, a.metric)
		}
	}
	if !slices.ContainsFunc(alarms, func(a alarm) bool { return a.metric == "deadlines.overdue" }) {
		fail("no alarm on overdue requests (deadlines.overdue)")
	}
	return problems
}

// policyProblems: no action that is never called or no IAM action, DynamoDB only on the
// service's keys (dynamodb:LeadingKeys), KMS only through named services (kms:ViaService).
func policyProblems(fn string, policies *yaml.Node) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if policies == nil {
		return nil
	}
	for _, doc := range policies.Content {
		st := path(doc, "Statement")
		if st == nil {
			continue
		}
		for _, s := range st.Content {
			actions := path(s, "Action")
			var names []string
			if actions.Kind == yaml.ScalarNode {
				names = []string{actions.Value}
			}
			for _, a := range actions.Content {
				names = append(names, a.Value)
			}
			for _, a := range names {
				switch {
				case a == "dynamodb:TransactWriteItems":
					fail("%s: dynamodb:TransactWriteItems is no IAM action (a transaction needs its items' actions)", fn)
				case a == "ses:SendRawEmail":
					fail("%s: ses:SendRawEmail is never called", fn)
				case strings.HasPrefix(a, "dynamodb:") && path(s, "Condition", "ForAllValues:StringLike", "dynamodb:LeadingKeys") == nil &&
					path(s, "Condition", "ForAllValues:StringEquals", "dynamodb:LeadingKeys") == nil:
					fail("%s: %s without a dynamodb:LeadingKeys condition", fn, a)
				case strings.HasPrefix(a, "kms:") && path(s, "Condition", "StringEquals", "kms:ViaService") == nil:
					fail("%s: %s without a kms:ViaService condition", fn, a)
				}
			}
		}
	}
	return problems
}

// TestProductionReadinessFails: the check finds what it is for, on a template that lacks it.
func TestProductionReadinessFails(t *testing.T) {
	for name, edit := range map[string][3]string{
		"ScheduleWithoutDLQ":    {"            DeadLetterConfig:\n              Arn: !GetAtt ScheduleFailureQueue.Arn\n", "", "has no DeadLetterConfig"},
		"AsyncWithoutOnFailure": {"      EventInvokeConfig:\n        MaximumRetryAttempts: 0\n", "      EventInvokeConfigX:\n        MaximumRetryAttempts: 0\n", "no EventInvokeConfig OnFailure"},
		"AlarmWithoutTopic":     {"      AlarmDescription: The HTTP API answered 5xx.\n", "      AlarmDescription: The HTTP API answered 5xx.\n      OKActions: []\n", "alarm Api5xxAlarm does not notify AlarmTopic"},
		"TransactWriteItems":    {"                - dynamodb:ConditionCheckItem\n", "                - dynamodb:TransactWriteItems\n", "is no IAM action"},
		"PlainLogGroup":         {"      LogGroupName: !Sub /gdpr/${Stage}/meta\n      RetentionInDays: 30\n      KmsKeyId: !GetAtt Key.Arn\n", "      LogGroupName: !Sub /gdpr/${Stage}/meta\n      RetentionInDays: 30\n", "log group MetaLogs is not encrypted"},
		"NoDeletionProtection":  {"      DeletionProtectionEnabled: true\n", "", "no DeletionProtectionEnabled"},
		"QueueWithoutAlarm":     {"          Value: !GetAtt AsyncFailureQueue.QueueName\n", "          Value: !GetAtt StreamFailureQueue.QueueName\n", "no alarm on the depth of AsyncFailureQueue"},
	} {
		t.Run(name, func(t *testing.T) {
			src := string(gdpr.Template)
			if !strings.Contains(src, edit[0]) {
				t.Fatalf("template.yaml no longer has %q", edit[0])
			}
			src = strings.Replace(src, edit[0], edit[1], 1)
			if name == "AlarmWithoutTopic" {
				src = strings.Replace(src, "      OKActions: []\n", "", 1)
				src = removeFirstAfter(src, "      AlarmDescription: The HTTP API answered 5xx.\n", "      AlarmActions: [!Ref AlarmTopic]\n")
			}
			tpl, err := Parse([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			problems := productionProblems(tpl)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, edit[2]) }) {
				t.Fatalf("problems %q, want one saying %q", problems, edit[2])
			}
		})
	}
}

func removeFirstAfter(s, anchor, remove string) string {
	i := strings.Index(s, anchor)
	if i < 0 {
		return s
	}
	j := strings.Index(s[i:], remove)
	if j < 0 {
		return s
	}
	return s[:i+j] + s[i+j+len(remove):]
}

// path follows mapping keys from n; nil when one is missing.
func path(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}
