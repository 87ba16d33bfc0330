#!/usr/bin/env perl
# Step 5: call an extension's domain, the tutorial's Greeter (docs/extensions.md).
use v5.36;
use OpenSim::Dispatcher;

my $url      = $ENV{OPENSIM_DISPATCHER_URL} // 'http://127.0.0.1:9000/Dispatcher/';
my $user     = $ENV{OPENSIM_USER}           // 'Ada Lovelace';
my $password = $ENV{OPENSIM_PASSWORD}       // 'password';
my $name     = $ARGV[0] // '';
my $greet    = 'Greeter.Messages.GreetRequest';

# The capability must name the extension's domain, as it names RemoteControl.
my $client = OpenSim::Dispatcher->connect(url => $url, user => $user, password => $password,
    domains => [@OpenSim::Dispatcher::DEFAULT_DOMAINS, 'Greeter']);
$client->offers($greet) or die "the Greeter extension is not installed here (docs/extensions.md)\n";
# No method for a third party's message: call it by its type name.
my $reply = $client->call($greet, { Name => $name });
say "$reply->{Greeting} (greeting number $reply->{Count} in ", $client->scene, ')';
$client->close;
