# The least privilege drover needs in Nomad. Apply it and make a token:
#   nomad acl policy apply -description "drover" drover nomad-policy.hcl
#   nomad acl token create -name drover -policy drover
# or bind it to drover's own job (workload identity, no stored token):
#   nomad acl policy apply -namespace default -job drover drover nomad-policy.hcl
#
# Every namespace: drover lists the jobs of every namespace (to find the
# ones it owns and what it must prune), reads jobs, their allocations and
# deployments, and follows the event stream of every namespace, which
# Nomad allows only when the token may read jobs in each namespace that
# exists.
namespace "*" {
  capabilities = ["list-jobs", "read-job"]
}

# Each namespace the repository's jobs are deployed to (copy the block per
# namespace): plan and register (submit-job, which also covers the stop of
# a pruned job), and parse the job files (parse-job; drover parses in
# NOMAD_NAMESPACE, "default" when unset). A block naming a namespace
# replaces the "*" block there, so it repeats list-jobs and read-job.
namespace "default" {
  capabilities = ["list-jobs", "read-job", "parse-job", "submit-job"]
}
