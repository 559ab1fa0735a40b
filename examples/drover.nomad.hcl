# drover running as a Nomad job, following a repository of job files.
#
# Its secrets live in a Nomad variable, never in this file:
#   nomad var put nomad/jobs/drover nomad_token=<token> git_token=<token> \
#     webhook_secret=$(openssl rand -hex 32) api_token=$(openssl rand -hex 32)
# webhook_secret authenticates push webhooks (POST /webhook/github or
# /webhook/gitlab); api_token guards POST /v1/sync, since this job listens on
# all interfaces.
# The Nomad token needs submit-job, read-job and parse-job in the namespaces
# drover manages, and list-jobs across them.

variable "image" {
  type    = string
  default = "ghcr.io/drover-dev/drover:latest"
}

variable "repo" {
  type        = string
  description = "Repository of job files to follow"
}

variable "ref" {
  type    = string
  default = "main"
}

job "drover" {
  type = "service"

  group "drover" {
    count = 1 # one writer per instance name

    network {
      port "http" {
        to = 8680
      }
    }

    service {
      name     = "drover"
      port     = "http"
      provider = "consul"

      check {
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    # The clone survives restarts and reschedules on the same node.
    ephemeral_disk {
      sticky  = true
      migrate = true
      size    = 500
    }

    task "drover" {
      driver = "docker"

      config {
        image = var.image
        args  = ["agent"]
        ports = ["http"]
      }

      env {
        DROVER_REPO      = var.repo
        DROVER_REF       = var.ref
        DROVER_DATA_DIR  = "${NOMAD_ALLOC_DIR}/data/drover"
        DROVER_LISTEN    = "0.0.0.0:8680"
        DROVER_INTERVAL  = "1m"
        DROVER_INSTANCE  = "drover"
        NOMAD_ADDR       = "http://${attr.unique.network.ip-address}:4646"
        CONSUL_HTTP_ADDR = "${attr.unique.network.ip-address}:8500"
      }

      template {
        destination = "${NOMAD_SECRETS_DIR}/drover.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/drover" }}
          NOMAD_TOKEN={{ .nomad_token }}
          DROVER_GIT_TOKEN={{ .git_token }}
          DROVER_WEBHOOK_SECRET={{ .webhook_secret }}
          DROVER_API_TOKEN={{ .api_token }}
          {{ end }}
        EOT
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
