using Akka.Actor;
using Akka.Configuration;
using RaftActors.Configuration;

// A bare ActorSystem "raft" on 127.0.0.1:<port>, configured as a Raft node's system is meant to be:
// loopback remoting over RaftActors' reference.conf (RaftSettings.DefaultConfig). The integration
// test RemotingRestartTests runs two of these, restarting one on the same address (SIGKILL and a
// new process, so a new UID) while the other lives on.
//   args:   <port> <peer-port> <tag>
//   stdin:  "go" sends "<tag> <n>" to the peer's /user/echo every 20 ms; "stop" stops sending.
//   stdout: "ready" once listening, then "got <message>" for every message received.
if (args.Length != 3 || !int.TryParse(args[0], out var port) || !int.TryParse(args[1], out var peerPort))
{
    Console.Error.WriteLine("usage: RaftActors.RemotingPeer <port> <peer-port> <tag>");
    return 2;
}

var tag = args[2];
var config = ConfigurationFactory.ParseString($$"""
    akka {
      loglevel = WARNING
      stdout-loglevel = WARNING
      log-dead-letters = off
      log-dead-letters-during-shutdown = off
      actor.provider = remote
      remote {
        log-remote-lifecycle-events = off
        retry-gate-closed-for = 200ms
        dot-netty.tcp { hostname = "127.0.0.1", port = {{port}}, tcp-reuse-addr = off }
      }
    }
    """).WithFallback(RaftSettings.DefaultConfig);
var system = ActorSystem.Create("raft", config);
var output = Console.Out;
var outputLock = new object();
void Print(string line)
{
    lock (outputLock)
    {
        output.WriteLine(line);
        output.Flush();
    }
}

Action<string> print = Print;
system.ActorOf(Props.Create(() => new Echo(print)), "echo");
var peer = system.ActorSelection($"akka.tcp://raft@127.0.0.1:{peerPort}/user/echo");
Print("ready");

CancellationTokenSource? sending = null;
while (Console.ReadLine() is { } command)
{
    switch (command.Trim())
    {
        case "go" when sending is null:
            sending = new CancellationTokenSource();
            var token = sending.Token;
            _ = Task.Run(async () =>
            {
                for (var n = 0; !token.IsCancellationRequested; n++)
                {
                    peer.Tell($"{tag} {n}");
                    await Task.Delay(20, CancellationToken.None);
                }
            });
            break;
        case "stop":
            sending?.Cancel();
            sending = null;
            break;
    }
}

// Standard input closed: the test is over.
await system.Terminate();
return 0;

internal sealed class Echo : ReceiveActor
{
    public Echo(Action<string> print) => Receive<string>(message => print("got " + message));
}
