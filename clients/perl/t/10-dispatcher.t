# The Dispatcher domain against a real host (dispatcher-core.md section 6).
use v5.36;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

use TestHost;
use OpenSim::Dispatcher;
use OpenSim::Dispatcher::Endpoint;

my $host = TestHost->start;
my $url  = $host->url;

sub error_of ($code) { eval { $code->(); 1 } ? undef : $@ }

subtest 'info lists bindings, scenes and the core messages' => sub {
    my $info = OpenSim::Dispatcher->new(url => $url)->info;
    is($info->{'$type'}, 'Dispatcher.Messages.InfoResponse', 'reply type');
    is($info->{SynchEndPoint}, $url, 'http binding');
    is($info->{AsyncEndPoint}, $host->udp, 'udp binding');
    is_deeply($info->{SceneList}, ['Harbor Island'], 'scenes');
    for my $m (qw(RenewCapability DestroyCapability CreateEndPoint RenewEndPoint CloseEndPoint)) {
        ok((grep { $_ eq "Dispatcher::Dispatcher.Messages.${m}Request" } @{ $info->{MessageList} }), "$m listed");
    }
};

subtest 'message_format' => sub {
    my $client = OpenSim::Dispatcher->new(url => $url);
    my $reply = $client->message_format('Dispatcher.Messages.CreateEndPointRequest');
    my $sample = JSON->new->decode($reply->{SampleMessage});
    is($sample->{LifeSpan}, 0, 'sample defaults');
    my $err = error_of(sub { $client->message_format('Foo.BarRequest') });
    isa_ok($err, 'OpenSim::Dispatcher::Error');
    is($err->message, 'unknown type', 'unknown type');
};

subtest 'connect, renew, close destroys the capability' => sub {
    my $client = OpenSim::Dispatcher->connect(url => $url, user => 'Ada Lovelace', password => 'password');
    is($client->scene, 'Harbor Island', 'first scene picked');
    is($client->lifespan_seconds, 300, 'lifespan clamped to MaxLifeSpan');
    my $cap = $client->capability;
    my $renewed = $client->renew_capability(life_span => 42);
    is($renewed->{Capability}, $cap, 'same capability');
    is($renewed->{LifeSpan}, 42, 'new lifespan');
    my $err = error_of(sub { $client->renew_capability(life_span => -5) });
    is($err->message, 'lifespan must be greater than 0 -5', 'negative lifespan refused');
    $client->close;
    my $stale = OpenSim::Dispatcher->new(url => $url, scene => 'Harbor Island', capability => $cap);
    $err = error_of(sub { $stale->renew_capability(life_span => 10) });
    is($err->kind, 'unauthorized', 'destroyed capability refused');
    is($err->message, 'Unauthorized invocation; no such capability', 'protocol text');
};

subtest 'identities and refusals' => sub {
    my $by_mail = OpenSim::Dispatcher->connect(url => $url, email => 'bob@example.org', password => 'password',
        scene => 'Harbor Island');
    ok($by_mail->capability, 'by e-mail');
    my $by_id = OpenSim::Dispatcher->connect(url => $url, user_id => $host->ids->{Bob}, password => 'password',
        scene => 'Harbor Island');
    ok($by_id->capability, 'by user id');
    my $err = error_of(sub { OpenSim::Dispatcher->connect(url => $url, user => 'Ada Lovelace', password => 'bad') });
    is($err->message, "failed to authenticate user $host->{ids}{Ada}", 'wrong password');
    $err = error_of(sub { OpenSim::Dispatcher->connect(url => $url, user => 'Carol Visitor', password => 'password') });
    is($err->message, "user $host->{ids}{Carol} is not authorized to access this interface", 'visitor refused');
};

subtest 'lazy renewal keeps an active client alive' => sub {
    my $client = $host->connect(lifespan_seconds => 2);
    is($client->lifespan_seconds, 2, 'granted 2 s');
    sleep 1.5;
    ok($client->renew_if_due, 'renewed after half the lifetime');
    sleep 1.5;    # idle for longer than the lifetime since the original grant
    ok(eval { $client->info; $client->renew_capability(life_span => 2); 1 }, 'still valid') or diag $@;
};

subtest 'endpoints' => sub {
    my $client = $host->connect;
    my $created = $client->create_end_point('127.0.0.1', 40000, life_span => 5000);
    is($created->{LifeSpan}, 5000, 'lifespan');
    my $renewed = $client->renew_end_point($created->{EndPointID}, life_span => 10);
    is($renewed->{LifeSpan}, 3000, 'raised to MaxInterPingTime');
    is($client->close_end_point($created->{EndPointID})->{'$type'}, 'ResponseBase', 'closed');
    my $err = error_of(sub { $client->renew_end_point($created->{EndPointID}) });
    is($err->message, "Unknown endpoint identifier; $created->{EndPointID}", 'gone');
    $err = error_of(sub { $client->create_end_point('10.1.2.3', 40000) });
    is($err->message, 'Endpoint address must match request address, 10.1.2.3 127.0.0.1', 'address check');
};

subtest 'queued and UDP requests' => sub {
    my $client = $host->connect;
    is($client->queued('renew_capability', life_span => 100)->{_Success}, 2, 'queued');
    my $endpoint = $client->create_end_point('127.0.0.1', 40001, life_span => 60000)->{EndPointID};
    is($client->packet('close_end_point', $endpoint)->{_Success}, 2, 'packet sent');
    my $deadline = time + 5;
    my $gone;
    while (!$gone && time < $deadline) {
        $gone = error_of(sub { $client->renew_end_point($endpoint, life_span => 60000) });
        sleep 0.1 unless $gone;
    }
    ok($gone && $gone->message =~ /^Unknown endpoint identifier/, 'the UDP close was executed');
};

subtest 'endpoint listener' => sub {
    my $client = $host->connect;
    my @touches;
    my $listener = OpenSim::Dispatcher::Endpoint->new(client => $client, lifespan_ms => 3000,
        on_touch => sub ($e) { push @touches, $e });
    ok($listener->endpoint_id, 'endpoint created');
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $listener->port, Proto => 'udp');
    $s->send('{"$type":"RemoteControl.Messages.TouchCallback","ObjectID":"c0ffee00-1111-4a2b-8c3d-0123456789ab"}');
    my $event = $listener->poll(5);
    is($event->{kind}, 'touch', 'event returned');
    is(scalar @touches, 1, 'handler called');
    $listener->run(4);    # longer than the lifespan: only renewals keep it
    ok(eval { $client->renew_end_point($listener->endpoint_id, life_span => 3000); 1 }, 'renewed while polling');
    my $id = $listener->endpoint_id;
    $listener->close;
    ok(error_of(sub { $client->renew_end_point($id) }), 'closed with the listener');
};

subtest 'unreachable host is a transport error' => sub {
    my $err = error_of(sub { OpenSim::Dispatcher->new(url => 'http://127.0.0.1:1/Dispatcher/', timeout_seconds => 2)->info });
    is($err->kind, 'transport', 'transport error');
};

$host->stop;
done_testing;
