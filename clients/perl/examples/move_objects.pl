#!/usr/bin/env perl
# Step 3: move objects, one at a time over HTTP and fire-and-forget over UDP.
use v5.36;
use Time::HiRes qw(sleep time);
use OpenSim::Dispatcher;
use OpenSim::Dispatcher::Objects qw(box_asset);

my $client = OpenSim::Dispatcher->connect(
    url      => $ENV{OPENSIM_DISPATCHER_URL} // 'http://127.0.0.1:9000/Dispatcher/',
    user     => $ENV{OPENSIM_USER}           // 'Ada Lovelace',
    password => $ENV{OPENSIM_PASSWORD}       // 'password',
);
my $box = box_asset(name => 'Mover');
$client->add_asset($box);
my @ids = map { $client->create_object($box->{AssetID}, position => [100, 100 + $_, 25])->{ObjectID} } 0 .. 2;

# One object, with a reply that confirms where it ended up.
my $moved = $client->set_object_position($ids[0], [110, 100, 30]);
say 'moved to ', join(' ', @{ $moved->{Position} });

# Many objects, one UDP datagram per frame, no reply.
for my $frame (0 .. 9) {
    my $n = 0;
    $client->packet('bulk_dynamics', [ map { { ObjectID => $_, Position => [100 + $frame, 110 + $n++, 25] } } @ids ]);
    sleep 0.02;
}

# UDP requests run asynchronously; give the last frame a moment to land.
my $deadline = time + 5;
sleep 0.05 while $client->get_object_position($ids[2])->{Position}[0] != 109 && time < $deadline;
say 'last frame at ', join(' ', @{ $client->get_object_position($ids[2])->{Position} });
$client->close;
