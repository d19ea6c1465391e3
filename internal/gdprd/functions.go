package gdprd

import (
	"github.com/example/gdpr/internal/handlers/bouncesfn"
	"github.com/example/gdpr/internal/handlers/consentapi"
	"github.com/example/gdpr/internal/handlers/deliveriesjob"
	"github.com/example/gdpr/internal/handlers/exportfn"
	"github.com/example/gdpr/internal/handlers/metaapi"
	"github.com/example/gdpr/internal/handlers/notifyfn"
	"github.com/example/gdpr/internal/handlers/requestsapi"
	"github.com/example/gdpr/internal/handlers/retentionjob"
	"github.com/example/gdpr/internal/handlers/rightsfn"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
)

// Functions is every function of template.yaml, by logical id, as gdprd and gdprctl run them:
// each with the builder its functions/<name>/main.go hands lambdamain. A new function is one
// line here (DESIGN.md, Adding a function); its triggers come from the template.
var Functions = []Function{
	HTTP("MetaFunction", metaapi.New),
	HTTP("ConsentFunction", consentapi.New),
	HTTP("RequestsFunction", requestsapi.New),
	Schedule("RetentionFunction", retentionjob.New),
	Schedule("DeliveriesFunction", deliveriesjob.New),
	Stream("ExportFunction", exportfn.New),
	Stream("RightsFunction", rightsfn.New),
	Stream("NotifyFunction", notifyfn.New),
	Schedule("NoticesFunction", notifyfn.NewNotices),
	Event("BouncesFunction", bouncesfn.New),
}

// Function is one function gdprd can run: its logical id in template.yaml and the builder of
// its handler, for the one kind of trigger it has.
type Function struct {
	ID       string
	HTTP     func(*ports.Ports) (lambdamain.HTTPHandler, error)
	Stream   func(*ports.Ports) (lambdamain.StreamHandler, error)
	Schedule func(*ports.Ports) (lambdamain.ScheduleHandler, error)
	Event    func(*ports.Ports) (lambdamain.EventHandler, error)
}

// HTTP is a function behind the HTTP API, built as lambdamain.HTTP builds it.
func HTTP(id string, build func(*ports.Ports) (*httpapi.API, error)) Function {
	return Function{ID: id, HTTP: func(p *ports.Ports) (lambdamain.HTTPHandler, error) {
		api, err := build(p)
		if err != nil {
			return nil, err
		}
		return api.Handle, nil
	}}
}

// Stream is a function fed by the table's change feed (a DynamoDB event in template.yaml).
func Stream(id string, build func(*ports.Ports) (lambdamain.StreamHandler, error)) Function {
	return Function{ID: id, Stream: build}
}

// Schedule is a scheduled job (a Schedule or ScheduleV2 event in template.yaml).
func Schedule(id string, build func(*ports.Ports) (lambdamain.ScheduleHandler, error)) Function {
	return Function{ID: id, Schedule: build}
}

// Event is a function fed by an EventBridge rule (an EventBridgeRule event in template.yaml).
func Event(id string, build func(*ports.Ports) (lambdamain.EventHandler, error)) Function {
	return Function{ID: id, Event: build}
}
