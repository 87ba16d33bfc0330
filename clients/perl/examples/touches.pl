#!/usr/bin/env perl
# Step 4: react to touches. An endpoint receives the host's callback datagrams
# and hands them to your function. We touch the object ourselves
# (TouchObjectRequest, as a bot would); an avatar's touch arrives the same way.
use v5.36;
use OpenSim::Dispatcher;
use OpenSim::Dispatcher::Endpoint;
use OpenSim::Dispatcher::Objects qw(box_asset);

my $client = OpenSim::Dispatcher->connect(
    url      => $ENV{OPENSIM_DISPATCHER_URL} // 'http://127.0.0.1:9000/Dispatcher/',
    user     => $ENV{OPENSIM_USER}           // 'Ada Lovelace',
    password => $ENV{OPENSIM_PASSWORD}       // 'password',
);
my $box = box_asset(name => 'Touch Me');
$client->add_asset($box);
my $object_id = $client->create_object($box->{AssetID}, name => 'Touch Me')->{ObjectID};

my $endpoint = OpenSim::Dispatcher::Endpoint->new(
    client   => $client,
    on_touch => sub ($event) { say "touched $event->{ObjectID} by $event->{AvatarID}" },
);
$endpoint->watch_touches($object_id);
$client->touch_object($object_id);    # simulate an avatar's touch
$endpoint->poll(5) or die "no touch arrived\n";
$endpoint->close;
$client->close;
