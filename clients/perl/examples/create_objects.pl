#!/usr/bin/env perl
# Step 2: create objects from an object asset.
use v5.36;
use OpenSim::Dispatcher;
use OpenSim::Dispatcher::Objects qw(box_asset);

my $client = OpenSim::Dispatcher->connect(
    url      => $ENV{OPENSIM_DISPATCHER_URL} // 'http://127.0.0.1:9000/Dispatcher/',
    user     => $ENV{OPENSIM_USER}           // 'Ada Lovelace',
    password => $ENV{OPENSIM_PASSWORD}       // 'password',
);

# Objects are rezzed from object assets; upload a generated box once.
my $box = box_asset(name => 'Tutorial Box');
$client->add_asset($box);

for my $i (0 .. 4) {
    my $reply = $client->create_object($box->{AssetID},
        position => [120 + 2 * $i, 128, 25], name => "Tutorial Box $i");
    say 'created ', $reply->{ObjectID};
}

my $found = $client->find_objects(pattern => '^Tutorial Box')->{Objects};
say 'the region has ', scalar @$found, ' tutorial boxes';
$client->close;
