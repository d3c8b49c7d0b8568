using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace RaftActors.Tests.Cluster;

/// <summary>
/// A throwaway self-signed certificate with its private key, written as a password-protected
/// PKCS#12 file for Akka.Remote's TLS (<c>akka.remote.dot-netty.tcp.ssl.certificate</c>). Made at
/// run time, so no private key is ever committed; disposing deletes the file.
/// </summary>
public sealed class TestCertificate : IDisposable
{
    private TestCertificate(string path, string password)
    {
        Path = path;
        Password = password;
    }

    public string Path { get; }

    public string Password { get; }

    public static TestCertificate Create(string subject = "CN=raftactors-test")
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        // Each node is a TLS server to some peers and a client (with mutual authentication) to others.
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"raftactors-test-{Guid.NewGuid():N}.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
        return new TestCertificate(path, password);
    }

    /// <summary>HOCON that turns TLS on with this certificate (validation suppressed: it is self-signed).</summary>
    public string TlsHocon => $$"""
        akka.remote.dot-netty.tcp {
          enable-ssl = true
          ssl {
            suppress-validation = true
            certificate { path = "{{Path}}", password = "{{Password}}" }
          }
        }
        """;

    public void Dispose() => File.Delete(Path);
}
