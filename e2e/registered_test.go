package e2e

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/drover-dev/drover/health"
	"github.com/hashicorp/nomad/api"
)

// TestRollout_TargetOfTheSentJobIsNomads pins what lets drover skip reading
// a job back after registering it: the rollout target worked out from the
// job as sent (health.AsRegistered) is the one of the job Nomad stored, for
// update blocks at the job level, at the group level and absent, service
// names from defaults and interpolation, check_restart grace, meta, and
// the job types that are not watched; on a create and on an update.
func TestRollout_TargetOfTheSentJobIsNomads(t *testing.T) {
	t.Parallel()
	task := func(services string) string {
		return `    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["1000"]
      }
` + services + `    }
`
	}
	check := func(name, extra string) string {
		return fmt.Sprintf(`        check {
          name     = %q
          type     = "tcp"
          interval = "2s"
          timeout  = "1s"
%s        }
`, name, extra)
	}
	specs := map[string]string{
		"asreg-jobupdate": `job "asreg-jobupdate" {
  update {
    min_healthy_time = "3s"
  }
  group "web" {
    network {
      port "http" {}
    }
    service {
      name = "asreg-jobupdate"
      port = "http"
` + check("c", `          check_restart {
            grace = "1s"
          }
`) + `    }
` + task("") + `  }
}`,
		"asreg-groupupdate": `job "asreg-groupupdate" {
  meta = {
    "drover.health_fail_after" = "2m"
  }
  group "web" {
    update {
      min_healthy_time = "4s"
      auto_revert      = true
    }
    network {
      port "http" {}
    }
` + task(`      service {
        port = "http"
`+check("a", "")+check("b", "")+`      }
`) + `  }
}`,
		"asreg-noupdate": `job "asreg-noupdate" {
  group "web" {
    network {
      port "http" {}
    }
    service {
      name = "${JOB}-x"
      port = "http"
` + check("c", "") + `    }
` + task("") + `  }
}`,
		"asreg-batch": `job "asreg-batch" {
  type = "batch"
  group "g" {
` + task("") + `  }
}`,
		"asreg-system": `job "asreg-system" {
  type = "system"
  group "g" {
` + task("") + `  }
}`,
	}
	nc := env.cluster.Nomad()
	for id, src := range specs {
		t.Cleanup(func() { _, _, _ = nc.Jobs().Deregister(id, true, nil) })
		// Parsed as drover's loader does: no canonicalization.
		var sent api.Job
		if _, err := nc.Raw().Write("/v1/jobs/parse", &api.JobsParseRequest{JobHCL: src}, &sent, nil); err != nil {
			t.Fatalf("%s: parse: %v", id, err)
		}
		for round, meta := range []map[string]string{nil, {"round": "2"}} {
			sent.Meta = meta
			if meta != nil {
				sent.Meta["drover.health_fail_after"] = "1m"
			}
			if _, _, err := nc.Jobs().Register(&sent, nil); err != nil {
				t.Fatalf("%s: register: %v", id, err)
			}
			stored := nomadJob(t, id)
			before, _ := json.Marshal(&sent)
			local, err := health.AsRegistered(&sent, *stored.Version)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if after, _ := json.Marshal(&sent); string(after) != string(before) {
				t.Errorf("%s: AsRegistered changed the job it was given", id)
			}
			want, got := health.TargetOf(stored), health.TargetOf(local)
			if !reflect.DeepEqual(got, want) || health.Watched(local) != health.Watched(stored) {
				t.Errorf("%s, register %d: target of the sent job %+v (watched %v), of Nomad's %+v (watched %v)",
					id, round+1, got, health.Watched(local), want, health.Watched(stored))
			}
		}
	}
}
