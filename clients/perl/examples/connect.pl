#!/usr/bin/env perl
# Step 1: connect and authenticate.
use v5.36;
use OpenSim::Dispatcher;

my $url      = $ENV{OPENSIM_DISPATCHER_URL} // 'http://127.0.0.1:9000/Dispatcher/';
my $user     = $ENV{OPENSIM_USER}           // 'Ada Lovelace';
my $password = $ENV{OPENSIM_PASSWORD}       // 'password';

# Who is there? InfoRequest needs no credentials.
my $info = OpenSim::Dispatcher->new(url => $url)->info;
say 'regions: ', join(', ', @{ $info->{SceneList} });

# A capability for the first region; renewed as you go, destroyed by close.
my $client = OpenSim::Dispatcher->connect(url => $url, user => $user, password => $password);
say 'connected to ', $client->scene, ' for ', $client->lifespan_seconds, ' s at a time';
say 'the host offers ', scalar @{ $client->info->{MessageList} }, ' messages';
$client->close;
