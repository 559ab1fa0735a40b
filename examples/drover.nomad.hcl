# drover running as a Nomad job, following a repository of job files.
#
# Its secrets live in a Nomad variable, never in this file:
#   nomad var put nomad/jobs/drover nomad_token=<token> git_token=<token> \
#     webhook_secret=$(openssl rand -hex 32) api_token=$(openssl rand -hex 32)
# webhook_secret authenticates push webhooks (POST /webhook/github or
# /webhook/gitlab); api_token guards POST /v1/sync, since this job listens on
# all interfaces.
# The Nomad token needs submit-job, read-job and parse-job in the namespaces
# drover manages, and list-jobs across them. The Consul token needs
# key_prefix "drover/drover/" write (state, leader lock, forwarded syncs),
# session_prefix "" write (the leader's session), and service and node read
# (health checks).
#
# Two replicas: one leads (syncs, watches rollouts, rolls back), the other
# stands by, answers /healthz, /v1/status and webhooks (passing syncs on to
# the leader), and takes over within about 2 x --leader-ttl + 5s if the
# leader dies, or at once when it is stopped.

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

  # Replace one replica at a time, and only once the new one is healthy:
  # a standby is healthy (200 "standby, leader is …"), so the instance
  # always has a leader or a replica ready to become one.
  update {
    max_parallel     = 1
    min_healthy_time = "10s"
    healthy_deadline = "3m"
    auto_revert      = true
  }

  group "drover" {
    # Replicas of one --instance elect a leader through Consul: only one
    # ever writes. Three tolerate two failures; two are the usual choice.
    count = 2

    # Keep the replicas on different nodes, so one node's failure leaves a
    # replica to take over. (With fewer nodes than replicas, use a spread
    # block instead: spread { attribute = "${node.unique.id}" }.)
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

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
        DROVER_REPO     = var.repo
        DROVER_REF      = var.ref
        DROVER_DATA_DIR = "${NOMAD_ALLOC_DIR}/data/drover"
        DROVER_LISTEN   = "0.0.0.0:8680"
        DROVER_INTERVAL = "1m"
        DROVER_INSTANCE = "drover"
        # Where the other replica reaches this one (for /v1/status on a
        # standby); drover reads NOMAD_ADDR_http by default, set here to
        # say so.
        DROVER_ADVERTISE = "http://${NOMAD_ADDR_http}"
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
