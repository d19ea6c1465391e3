// Command deliveries is DeliveriesFunction: the scheduled retries of the signed calls to
// marketplace sites. It needs the table and the master secret (the sites' signing secrets
// are sealed with it); it sends no mail and stores no objects.
package main

import (
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/deliveriesjob"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/secretsmanager"
)

func main() { lambdamain.Schedule(deliveriesjob.New, dynamo.FromEnv(), secretsmanager.FromEnv()) }
