package health

import (
	"fmt"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/hashicorp/nomad/api"
)

// allocOf and deploymentOf decode an event's payload into only what a
// verdict reads. The API client's Event.Allocation decodes the whole
// allocation (resources, metrics, networks) by reflection, which during a
// big deploy is most of the watch's CPU; a stub is a fraction of it.
func allocOf(e *api.Event) (*api.AllocationListStub, string, error) {
	var out struct {
		Allocation *struct {
			api.AllocationListStub `mapstructure:",squash"`
			DeploymentID           string
		}
	}
	if err := decodePayload(e, &out); err != nil || out.Allocation == nil {
		return nil, "", err
	}
	return &out.Allocation.AllocationListStub, out.Allocation.DeploymentID, nil
}

func deploymentOf(e *api.Event) (*api.Deployment, error) {
	var out struct{ Deployment *api.Deployment }
	if err := decodePayload(e, &out); err != nil {
		return nil, err
	}
	return out.Deployment, nil
}

// decodePayload decodes e's payload the way the API client does.
func decodePayload(e *api.Event, out any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: out, DecodeHook: mapstructure.StringToTimeHookFunc(time.RFC3339)})
	if err != nil {
		return err
	}
	if err := dec.Decode(e.Payload); err != nil {
		return fmt.Errorf("decode %s event: %w", e.Topic, err)
	}
	return nil
}
