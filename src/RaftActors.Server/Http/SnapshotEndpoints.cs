using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RaftActors.Client;
using RaftActors.Messages;
using static RaftActors.Server.Http.KvEndpoints;

namespace RaftActors.Server.Http;

/// <summary>
/// Backups over HTTP: <c>GET /snapshot</c> on the leader -> 200, the body a consistent snapshot of
/// the key-value store and the client sessions in the snapshot file format
/// (<c>application/octet-stream</c>), its index and term in the <c>Raft-Snapshot-Index</c> and
/// <c>Raft-Snapshot-Term</c> headers. A follower answers 503 <c>{"error","leader"}</c>, naming the
/// leader to ask (null while none is known); 500 when the leader could not write the snapshot.
/// The gateway's client asks the local node alone, again while it knows no leader.
/// </summary>
public static class SnapshotEndpoints
{
    public const string IndexHeader = "Raft-Snapshot-Index";
    public const string TermHeader = "Raft-Snapshot-Term";

    public static void Map(IEndpointRouteBuilder app, RaftGateway gateway, string dataDirectory)
    {
        app.MapGet("/snapshot", async (HttpContext http) =>
        {
            // Written beside the node's own snapshots, on the same disk. Should the server stop
            // before it is sent (or the asker give up while it is written), the name matches the
            // snapshot-*.tmp that the store deletes when it next opens.
            var path = Path.Combine(dataDirectory, $"snapshot-export-{Guid.NewGuid():N}.tmp");
            FileStream? file = null;
            try
            {
                IClientReply reply;
                try
                {
                    reply = await gateway.Client.ExportSnapshotAsync(path, RaftGateway.SnapshotTimeout, http.RequestAborted);
                }
                catch (RaftRequestRejectedException rejected)
                {
                    return Error(StatusCodes.Status500InternalServerError, rejected.Reason);
                }
                catch (RaftUnavailableException unavailable)
                {
                    return NotLeaderHere(unavailable.Message, leader: null);
                }

                switch (reply)
                {
                    case SnapshotExported exported:
                        // The asker's copy only: deleted once sent, or once the asker is gone.
                        file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024,
                            FileOptions.DeleteOnClose | FileOptions.Asynchronous);
                        http.Response.Headers[IndexHeader] = exported.Position.Index.ToString(CultureInfo.InvariantCulture);
                        http.Response.Headers[TermHeader] = exported.Position.Term.ToString(CultureInfo.InvariantCulture);
                        return Results.Stream(file, "application/octet-stream");
                    case NotLeader notLeader:
                        return NotLeaderHere($"this node is not the leader: ask {notLeader.LeaderId ?? notLeader.LeaderPath?.ToString()}, which writes the snapshot", notLeader.LeaderId);
                    default:
                        return Error(StatusCodes.Status500InternalServerError, $"unexpected answer {reply.GetType().Name}");
                }
            }
            finally
            {
                if (file is null)
                    File.Delete(path);
            }
        });
    }

    private static IResult NotLeaderHere(string error, string? leader) =>
        Results.Json(new { error, leader }, statusCode: StatusCodes.Status503ServiceUnavailable);
}
