// Real processes compete for two cores: one cluster at a time keeps the timing checks honest
// (and lets xunit enforce the tests' timeouts).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
