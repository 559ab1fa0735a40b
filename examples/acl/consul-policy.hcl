# The least privilege drover needs in Consul. Apply it and make a token:
#   consul acl policy create -name drover -rules @consul-policy.hcl
#   consul acl token create -description drover -policy-name drover
#
# drover's state (last good commits, quarantined specs, rollouts in flight,
# suspensions), the leader lock of --ha and the syncs standbys forward all
# live under --state-prefix, "drover/<instance>/" by default. The probe key
# `drover check` writes and deletes is there too.
key_prefix "drover/" {
  policy = "write"
}

# The leader election (--ha) holds its lock with a session, created on the
# node of the Consul agent drover talks to.
session_prefix "" {
  policy = "write"
}

# Rollouts are judged by the health checks of the jobs' services, read from
# the catalog and the local agent: Consul hides the checks of services and
# nodes a token may not read instead of refusing.
service_prefix "" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}
