package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/example/gdpr/internal/awsconfig"
	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/ports"
)

// FromEnv is the table port on the DynamoDB table TABLE_NAME, for a function's main to declare.
func FromEnv() awsports.Adapter {
	return awsports.Adapter{
		Settings: []string{awsports.EnvTable},
		Build: func(_ context.Context, e awsports.Env, p *ports.Ports) error {
			cfg, err := awsconfig.Load()
			if err != nil {
				return err
			}
			p.Table = New(dynamodb.NewFromConfig(cfg), e.Get(awsports.EnvTable), ports.TableDef())
			return nil
		},
	}
}

// FeedFromEnv is the change feed of the table TABLE_NAME, read from DynamoDB Streams: for gdprd
// on AWS, which feeds the stream functions itself (in AWS, Lambda's event source mapping does).
func FeedFromEnv() awsports.Adapter {
	return awsports.Adapter{
		Settings: []string{awsports.EnvTable},
		Build: func(_ context.Context, e awsports.Env, p *ports.Ports) error {
			cfg, err := awsconfig.Load()
			if err != nil {
				return err
			}
			p.Feed = NewFeed(dynamodbstreams.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg), e.Get(awsports.EnvTable))
			return nil
		},
	}
}
