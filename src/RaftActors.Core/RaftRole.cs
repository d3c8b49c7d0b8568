namespace RaftActors.Core;

/// <summary>The three roles of a Raft node; they are also the states of the node's FSM.</summary>
public enum RaftRole
{
    Follower,
    Candidate,
    Leader,
}
