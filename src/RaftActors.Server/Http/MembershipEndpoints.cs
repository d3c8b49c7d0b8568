using System.Text.Json;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RaftActors.Client;
using RaftActors.Core;
using RaftActors.Messages;
using static RaftActors.Server.Http.KvEndpoints;

namespace RaftActors.Server.Http;

/// <summary>
/// Membership changes and leadership transfer over HTTP, on every node (forwarded to the leader
/// as writes are):
/// <list type="bullet">
/// <item><c>GET /members</c> -> 200 <c>{"leader","index","committed","members":[{"id","address","voter"}]}</c>, the configuration this node uses</item>
/// <item><c>POST /members</c> <c>{"id","address"}</c> -> 200 <c>{"index","committed","members"}</c> once the server is a voter (<c>?promote=false</c>: a learner) in a committed configuration</item>
/// <item><c>DELETE /members/{id}</c> -> 200 with the members once the configuration without it is committed</item>
/// <item><c>POST /leader/transfer</c> optional <c>{"to"}</c> -> 200 <c>{"leader","term"}</c> once the new leader is known</item>
/// </list>
/// A refusal is 409 (another change or a transfer under way, already a member, the last voter, a
/// learner that did not catch up, a target that is not a voter, a transfer not done in time), 404
/// for an unknown member; 400 for a malformed body or address; 503 when no leader took it (certainly
/// not done), 504 when its outcome is unknown (the leader changed midway: read the members before
/// trying again).
/// </summary>
public static class MembershipEndpoints
{
    public static void Map(IEndpointRouteBuilder app, RaftGateway gateway)
    {
        app.MapGet("/members", async (HttpContext http) =>
        {
            var current = await gateway.ConfigurationAsync(http.RequestAborted);
            return current is null
                ? Error(StatusCodes.Status503ServiceUnavailable, "the local Raft node did not answer")
                : Results.Json(Members(current.Configuration, current.LeaderId, current.Index, current.Committed));
        });

        app.MapPost("/members", async (HttpContext http) =>
        {
            var promote = http.Request.Query["promote"];
            if (promote.Count > 1 || (promote.Count == 1 && !bool.TryParse(promote[0], out _)))
                return Error(StatusCodes.Status400BadRequest, $"promote must be true or false, got '{promote}'");
            var (body, problem) = await ReadJsonObjectAsync(http.Request, ["id", "address"]);
            if (problem is not null)
                return problem;
            var fields = body!;
            if (fields.GetValueOrDefault("id") is not { Length: > 0 } id)
                return Error(StatusCodes.Status400BadRequest, "\"id\" must be a non-empty string");
            var request = new AddMember(id, fields.GetValueOrDefault("address"), Promote: promote.Count == 0 || bool.Parse(promote[0]!));
            return await ChangeAsync<MembershipChanged>(gateway, request, http, Changed);
        });

        app.MapDelete("/members/{id}", async (string id, HttpContext http) =>
            await ChangeAsync<MembershipChanged>(gateway, new RemoveMember(id), http, Changed));

        app.MapPost("/leader/transfer", async (HttpContext http) =>
        {
            var (body, problem) = await ReadJsonObjectAsync(http.Request, ["to"], optional: true);
            if (problem is not null)
                return problem;
            return await ChangeAsync<LeadershipTransferred>(gateway, new TransferLeadership(body?.GetValueOrDefault("to")), http,
                transferred => Results.Json(new { leader = transferred.LeaderId, term = transferred.Term }));
        });
    }

    /// <summary>
    /// Takes a change or a transfer to the leader (<see cref="RaftGateway.MembershipTimeout"/>; not
    /// sent again once its outcome may be unknown) and answers with <paramref name="done"/> or the
    /// failure's status.
    /// </summary>
    private static async Task<IResult> ChangeAsync<T>(RaftGateway gateway, object change, HttpContext http, Func<T, IResult> done)
    {
        T answer;
        try
        {
            answer = await gateway.Client.ChangeMembershipAsync<T>(change, RaftGateway.MembershipTimeout, http.RequestAborted);
        }
        catch (RaftMembershipRefusedException refused)
        {
            return Error(refused.Reason == MembershipRefusalReason.NotAMember ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict, refused.Refusal);
        }
        catch (RaftRequestRejectedException rejected)
        {
            // The node refused the request itself as malformed (an address that does not parse): 400, not "unavailable".
            return Error(StatusCodes.Status400BadRequest, rejected.Reason);
        }
        catch (RaftClientException failure)
        {
            return Failure(failure);
        }

        return done(answer);
    }

    /// <summary>A configuration as the API shows it: each member's Akka address (its node actor's path without <c>/user/...</c>) and whether it votes.</summary>
    public static object Members(ClusterConfiguration configuration, string? leader, long index, bool committed) => new
    {
        leader,
        index,
        committed,
        members = MemberList(configuration),
    };

    private static object[] MemberList(ClusterConfiguration configuration) =>
        configuration.Members.Select(m => (object)new { id = m.Id, address = AddressOf(m.Address), voter = m.IsVoter }).ToArray();

    private static string? AddressOf(string? path) =>
        path is not null && ActorPath.TryParse(path, out var parsed) && parsed is not null ? parsed.Address.ToString() : path;

    private static IResult Changed(MembershipChanged changed) =>
        Results.Json(new { index = changed.Index, committed = true, members = MemberList(changed.Configuration) });

    /// <summary>Reads a JSON object of string (or null) fields, all of them among <paramref name="fields"/>; an empty body is no object when <paramref name="optional"/>.</summary>
    private static async Task<(Dictionary<string, string?>? Body, IResult? Problem)> ReadJsonObjectAsync(HttpRequest request, string[] fields, bool optional = false)
    {
        string text;
        using (var reader = new StreamReader(request.Body))
            text = await reader.ReadToEndAsync(request.HttpContext.RequestAborted);
        if (string.IsNullOrWhiteSpace(text))
            return optional ? (null, null) : (null, Error(StatusCodes.Status400BadRequest, $"the body must be a JSON object with {string.Join(", ", fields.Select(f => $"\"{f}\""))}"));
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                return (null, Error(StatusCodes.Status400BadRequest, "the body must be a JSON object"));
            var body = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!fields.Contains(property.Name))
                    return (null, Error(StatusCodes.Status400BadRequest, $"unknown field \"{property.Name}\""));
                if (property.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                    return (null, Error(StatusCodes.Status400BadRequest, $"\"{property.Name}\" must be a string"));
                body[property.Name] = property.Value.GetString();
            }

            return (body, null);
        }
        catch (JsonException e)
        {
            return (null, Error(StatusCodes.Status400BadRequest, $"the body is not JSON: {e.Message}"));
        }
    }
}
