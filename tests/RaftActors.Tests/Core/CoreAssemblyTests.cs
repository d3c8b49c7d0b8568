using RaftActors.Core;

namespace RaftActors.Tests.Core;

/// <summary>
/// The protocol is the part of RaftActors that can be read, tested and simulated without an actor
/// system; its assembly keeping no reference to Akka.NET is what keeps it so.
/// </summary>
public class CoreAssemblyTests
{
    [Fact]
    public void The_core_assembly_references_no_Akka_assembly()
    {
        var akka = typeof(RaftProtocol).Assembly.GetReferencedAssemblies()
            .Select(reference => reference.Name!)
            .Where(name => name == "Akka" || name.StartsWith("Akka.", StringComparison.Ordinal))
            .ToList();

        Assert.Empty(akka);
    }
}
