# The demo job: examples/hello run with raw_exec on a dev agent, so the demo
# and the end-to-end tests need no container runtime. Build the binary first
# (go build -o /abs/path/hello ./examples/hello) and pass its absolute path:
#
#   nomad job run -var hello_bin=/abs/path/hello examples/jobs/hello.nomad.hcl
#
# examples/docker/hello.nomad.hcl is the same service for real clusters.

variable "hello_bin" {
  type        = string
  description = "Absolute path of the examples/hello binary on the client node."
}

variable "version" {
  type        = string
  default     = "1.0.0"
  description = "Version hello reports; change it to roll out a new deployment."
}

job "hello" {
  type = "service"

  # Deployments are gated on the Consul check below (health_check defaults to
  # "checks"); the short times keep a demo rollout to seconds.
  update {
    min_healthy_time  = "2s"
    healthy_deadline  = "1m"
    progress_deadline = "2m"
  }

  group "web" {
    count = 1

    network {
      port "http" {}
    }

    service {
      name     = "hello"
      port     = "http"
      provider = "consul"

      check {
        type     = "http"
        path     = "/health"
        interval = "2s"
        timeout  = "1s"
      }
    }

    task "hello" {
      driver = "raw_exec"

      config {
        command = var.hello_bin
        args    = ["-addr", "127.0.0.1:${NOMAD_PORT_http}", "-version", var.version]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
