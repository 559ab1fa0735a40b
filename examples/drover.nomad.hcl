# drover running as a Nomad job, following a repository of job files.
#
# Its Nomad token is the task's workload identity: no stored token. Bind
# drover's policy to this job once (see examples/acl/):
#   nomad acl policy apply -namespace default -job drover drover examples/acl/nomad-policy.hcl
# Nomad writes the identity to ${NOMAD_SECRETS_DIR}/nomad_token and renews
# it; drover reads the file again whenever it changes (--nomad-token-file).
#
# The other secrets live in a Nomad variable the job may read, never in
# this file; the Consul token is one made from examples/acl/consul-policy.hcl:
#   nomad var put nomad/jobs/drover consul_token=<token> git_token=<token> \
#     webhook_secret=$(openssl rand -hex 32) api_token=$(openssl rand -hex 32)
# The Consul token is written to a file drover reads again when it changes
# (--consul-token-file), so `nomad var put` rotates it without a restart.
# webhook_secret authenticates push webhooks (POST /webhook/github or
# /webhook/gitlab); api_token guards POST /v1/sync, since this job listens on
# all interfaces. `drover check` with the same arguments says whether all of
# this is enough.
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
        args = [
          "agent",
          "--nomad-token-file", "${NOMAD_SECRETS_DIR}/nomad_token",
          "--consul-token-file", "${NOMAD_SECRETS_DIR}/consul_token",
        ]
        ports = ["http"]
      }

      # The task's workload identity, as a file drover reads its Nomad
      # token from; the policy bound to this job says what it may do.
      identity {
        file = true
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
          DROVER_GIT_TOKEN={{ .git_token }}
          DROVER_WEBHOOK_SECRET={{ .webhook_secret }}
          DROVER_API_TOKEN={{ .api_token }}
          {{ end }}
        EOT
      }

      # Re-rendered when the variable changes; drover notices the new
      # file, no restart.
      template {
        destination = "${NOMAD_SECRETS_DIR}/consul_token"
        change_mode = "noop"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/drover" }}{{ .consul_token }}{{ end }}
        EOT
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
