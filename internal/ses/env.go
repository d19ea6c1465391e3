package ses

import (
	"context"

	awsses "github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/ports"
)

// FromEnv is the mail port sending from SENDER_EMAIL, for a function's main to declare.
func FromEnv() awsports.Adapter {
	return awsports.Adapter{
		Settings: []string{awsports.EnvSender},
		Build: func(_ context.Context, e awsports.Env, p *ports.Ports) error {
			p.Mail = New(awsses.NewFromConfig(e.Config), e.Get(awsports.EnvSender), "")
			return nil
		},
	}
}
