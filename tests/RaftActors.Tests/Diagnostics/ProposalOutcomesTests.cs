using RaftActors.Diagnostics;
using RaftActors.Messages;

namespace RaftActors.Tests.Diagnostics;

/// <summary>raft.proposals counts a committed command by what the applier answered: a refusal of its session is not an application.</summary>
public sealed class ProposalOutcomesTests
{
    private static readonly Dictionary<string, (IClientReply Reply, ProposalOutcome Outcome)> Cases = new()
    {
        ["applied"] = (new CommandApplied(4, "result"), ProposalOutcome.Applied),
        ["failed"] = (new CommandFailed(4, "the state machine threw"), ProposalOutcome.Failed),
        ["session expired"] = (new SessionExpired(4, "session c1 expired"), ProposalOutcome.SessionExpired),
        ["too many sessions"] = (new TooManySessions(4, "200000 sessions younger than 15 s"), ProposalOutcome.TooManySessions),
    };

    public static TheoryData<string> Names() => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void ACommittedCommandCounts_AsItsAnswerSays(string name) =>
        Assert.Equal(Cases[name].Outcome, ProposalOutcomes.OfCommitted(Cases[name].Reply));
}
