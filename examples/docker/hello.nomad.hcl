# examples/hello for a real cluster, with the docker driver. The service,
# check and update behaviour match examples/jobs/hello.nomad.hcl, which the
# demo and tests run with raw_exec; only how the binary is shipped differs.
#
#   nomad job run -var image=registry.example.com/hello:1.0.0 examples/docker/hello.nomad.hcl

variable "image" {
  type        = string
  description = "Container image holding the examples/hello binary as its entrypoint."
}

variable "version" {
  type        = string
  default     = "1.0.0"
  description = "Version hello reports; change it to roll out a new deployment."
}

job "hello" {
  type = "service"

  update {
    min_healthy_time  = "2s"
    healthy_deadline  = "1m"
    progress_deadline = "2m"
  }

  group "web" {
    count = 1

    network {
      # hello listens on 8080 inside the container; Nomad maps a dynamic host
      # port to it, which is what Consul advertises and checks.
      port "http" {
        to = 8080
      }
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
      driver = "docker"

      config {
        image = var.image
        ports = ["http"]
        # 0.0.0.0, not hello's 127.0.0.1 default: traffic arrives through the
        # container's network interface.
        args = ["-addr", "0.0.0.0:8080", "-version", var.version]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
