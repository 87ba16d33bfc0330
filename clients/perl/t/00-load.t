use v5.36;
use Test::More;
use JSON ();
no warnings "once";

use_ok('OpenSim::Dispatcher');
use_ok('OpenSim::Dispatcher::Endpoint');
use_ok('OpenSim::Dispatcher::Error');
use_ok('OpenSim::Dispatcher::Messages');
use_ok('OpenSim::Dispatcher::Objects');

my @messages = @OpenSim::Dispatcher::Messages::MESSAGES;
my @rc = grep { $_->[2] eq 'RemoteControl' } @messages;
is(scalar @rc, 38, 'the 35 RemoteControl requests of remote-control.md section 1 + TouchObjectRequest + ImportOar/ExportOar');
is(scalar(grep { $_->[2] eq 'Dispatcher' } @messages), 8, 'the 8 Dispatcher requests');
is(scalar(grep { $_->[2] eq 'Scripting' } @messages), 9, 'the 9 Scripting requests');
for my $entry (@messages) {
    ok(OpenSim::Dispatcher->can($entry->[0]), "method $entry->[0]");
    my $class = $entry->[1] =~ s/^\w+\.Messages\.//r =~ s/Request$//r;
    is($entry->[0], lc($class =~ s/(?<!^)([A-Z])/_$1/gr), "$entry->[0] is named after $entry->[1]");
}

# Requests: $type first, coerced values, envelope added; nothing sent for unset options.
my ($request, $domain) = OpenSim::Dispatcher::_build(
    [ grep { $_->[0] eq 'create_object' } @messages ]->[0], 'ABC', position => ['1', 2, 3.5]);
is($domain, 'RemoteControl', 'domain');
is_deeply($request, { '$type' => 'RemoteControl.Messages.CreateObjectRequest', AssetID => 'abc',
    Position => [1, 2, 3.5] }, 'only given members are sent');
my $json = JSON->new->canonical->encode($request);
like($json, qr/^\{"\$type":/, '$type is the first member');
like($json, qr/"Position":\[1,2,3.5\]/, 'vector components are numbers');
eval { OpenSim::Dispatcher::_build([ grep { $_->[0] eq 'get_object_data' } @messages ]->[0]) };
like($@, qr/get_object_data needs 1 argument/, 'missing required argument croaks');
eval { OpenSim::Dispatcher::_build([ grep { $_->[0] eq 'find_objects' } @messages ]->[0], bogus => 1) };
like($@, qr/unknown argument\(s\) bogus/, 'unknown named argument croaks');

my $err = OpenSim::Dispatcher::Error->from_reply(
    { '$type' => 'ResponseBase', _Success => 0, _Message => 'Unauthorized invocation; no such capability' }, 'X');
is($err->kind, 'unauthorized', 'error kind');
is($err->message, 'Unauthorized invocation; no such capability', 'error message');
is("$err", 'X failed: Unauthorized invocation; no such capability', 'error text');

my $touch = OpenSim::Dispatcher::Endpoint::parse_callback(
    '{"$type":"RemoteControl.Messages.TouchCallback","ObjectID":"c0ffee00-1111-4a2b-8c3d-0123456789ab"}');
is($touch->{kind}, 'touch', 'touch callback parsed');
is(OpenSim::Dispatcher::Endpoint::parse_callback('garbage'), undef, 'garbage ignored');

like(OpenSim::Dispatcher::Objects::new_uuid(), qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'uuid v4');

done_testing;
