using RaftActors.Core;

namespace RaftActors.Tests.Core;

/// <summary>The "at least as up-to-date" comparison that guards votes.</summary>
public class LogPositionTests
{
    // Raft §5.4.1: "If the logs have last entries with different terms, then the log with the
    // later term is more up-to-date. If the logs end with the same term, then whichever log is
    // longer is more up-to-date."
    [Theory]
    // same last term: the longer (or equally long) log is at least as up to date
    [InlineData(2, 1, 1, 1, true)]
    [InlineData(1, 1, 1, 1, true)]
    [InlineData(1, 1, 2, 1, false)]
    // a later last term wins whatever the lengths
    [InlineData(1, 2, 5, 1, true)]
    [InlineData(2, 2, 2, 1, true)]
    [InlineData(9, 3, 2, 2, true)]
    // an earlier last term loses whatever the lengths
    [InlineData(5, 1, 1, 2, false)]
    [InlineData(2, 1, 2, 2, false)]
    [InlineData(100, 4, 3, 5, false)]
    // the empty log (0, 0)
    [InlineData(0, 0, 0, 0, true)]
    [InlineData(0, 0, 1, 1, false)]
    [InlineData(1, 1, 0, 0, true)]
    public void UpToDate_ComparesLastTermFirstThenLength_5_4_1(
        long index, long term, long otherIndex, long otherTerm, bool expected)
    {
        var log = new LogPosition(index, term);
        var other = new LogPosition(otherIndex, otherTerm);

        Assert.Equal(expected, log.IsAtLeastAsUpToDateAs(other));
    }

    // Raft §5.4.1: the comparison is the lexicographic order of (last term, last index), so it is
    // a total order: of any two logs one is at least as up to date as the other, and both are
    // only when they are the same position. Checked exhaustively on a small grid.
    [Fact]
    public void UpToDate_IsTheLexicographicOrderOfTermThenIndex_5_4_1()
    {
        var positions =
            from index in Enumerable.Range(0, 6)
            from term in Enumerable.Range(0, 5)
            select new LogPosition(index, term);
        var all = positions.ToList();

        foreach (var a in all)
        foreach (var b in all)
        {
            var lexicographic = a.Term > b.Term || (a.Term == b.Term && a.Index >= b.Index);
            Assert.True(lexicographic == a.IsAtLeastAsUpToDateAs(b), $"{a} vs {b}: expected {lexicographic}");
            Assert.True(a.IsAtLeastAsUpToDateAs(b) || b.IsAtLeastAsUpToDateAs(a), $"{a} and {b} are not comparable");
            if (a.IsAtLeastAsUpToDateAs(b) && b.IsAtLeastAsUpToDateAs(a))
                Assert.Equal(a, b);
        }
    }

    [Fact]
    public void Empty_IsIndexZeroTermZero()
    {
        Assert.Equal(new LogPosition(0, 0), LogPosition.Empty);
    }
}
