package OpenSim::Dispatcher;

use v5.36;

use Carp qw(croak);
use Digest::MD5 qw(md5_hex);
use IO::Socket::INET;
use JSON ();
use LWP::UserAgent;
use MIME::Base64 qw(encode_base64);
use Time::HiRes ();

use OpenSim::Dispatcher::Error;
use OpenSim::Dispatcher::Messages;

our $VERSION = '0.1.0';

# Domains a capability asks for unless told otherwise.
our @DEFAULT_DOMAINS = qw(Dispatcher RemoteControl Scripting Extensions);
# Requested capability lifetime; the host clamps it to its MaxLifeSpan.
use constant DEFAULT_LIFESPAN_SECONDS => 300;
# Renew once this fraction of the granted lifetime has passed.
use constant RENEW_AT_FRACTION => 0.5;
# HTTP timeout for one exchange.
use constant DEFAULT_TIMEOUT_SECONDS => 30;
# Replies larger than this are refused.
use constant MAX_REPLY_BYTES => 64 * 1024 * 1024;

my $JSON = JSON->new->utf8->canonical->allow_nonref(0);

sub new ($class, %args) {
    my $url = $args{url} // croak 'url is required';
    my $ua = LWP::UserAgent->new(
        keep_alive => 1,
        timeout    => $args{timeout_seconds} // DEFAULT_TIMEOUT_SECONDS,
        max_size   => MAX_REPLY_BYTES,
        agent      => "OpenSim-Dispatcher-Perl/$VERSION",
    );
    return bless {
        url          => $url,
        scene        => $args{scene},
        capability   => $args{capability},
        lifespan     => 0,
        requested    => DEFAULT_LIFESPAN_SECONDS,
        renew        => 0,
        renewed_at   => 0,
        ua           => $ua,
        udp          => undef,
    }, $class;
}

# Create a client, pick the scene (the host's first unless given) and authenticate.
sub connect ($class, %args) {
    my $self = $class->new(%args);
    if (!defined $self->{scene}) {
        my $scenes = $self->info->{SceneList} // [];
        $self->{scene} = $scenes->[0] // '';
    }
    $self->authenticate(%args);
    return $self;
}

sub authenticate ($self, %args) {
    defined $args{password} or croak 'password is required';
    my %identity;
    if (defined $args{user}) {
        my ($first, $last) = split ' ', $args{user}, 2;
        %identity = (first_name => $first, last_name => $last // '');
    }
    $identity{first_name}    = $args{first_name} if defined $args{first_name};
    $identity{last_name}     = $args{last_name}  if defined $args{last_name};
    $identity{email_address} = $args{email}      if defined $args{email};
    $identity{user_id}       = $args{user_id}    if defined $args{user_id};
    my $lifespan = $args{lifespan_seconds} // DEFAULT_LIFESPAN_SECONDS;
    my $reply = $self->create_capability(
        md5_hex($args{password}),    # lowercase MD5 hex, without the "$1$" prefix
        %identity,
        life_span   => $lifespan,
        domain_list => $args{domains} // [@DEFAULT_DOMAINS],
    );
    $self->{capability} = $reply->{Capability};
    $self->{lifespan}   = $reply->{LifeSpan};
    $self->{requested}  = $lifespan;
    $self->{renew}      = $args{renew} // 1;
    $self->{renewed_at} = Time::HiRes::time();
    return $reply;
}

sub scene ($self)            { $self->{scene} }
sub capability ($self)       { $self->{capability} }
sub lifespan_seconds ($self) { $self->{lifespan} }
sub url ($self)              { $self->{url} }

# Perl has no background threads here, so renewal is lazy: every request first
# renews the capability when half of its lifetime has passed. Call it yourself
# from long idle loops (OpenSim::Dispatcher::Endpoint's poll does).
sub renew_if_due ($self) {
    return 0 unless $self->{renew} && $self->{capability};
    my $due = $self->{renewed_at} + $self->{lifespan} * RENEW_AT_FRACTION;
    return 0 if Time::HiRes::time() < $due;
    $self->{renewed_at} = Time::HiRes::time();    # set first: the renewal below recurses into send
    my $reply = $self->renew_capability(life_span => $self->{requested});
    $self->{lifespan} = $reply->{LifeSpan};
    return 1;
}

sub close ($self) {
    if ($self->{capability}) {
        $self->{renew} = 0;
        eval { $self->destroy_capability; 1 };    # best effort: the host may be gone
        $self->{capability} = undef;
    }
    if ($self->{udp}) {
        $self->{udp}->close;
        $self->{udp} = undef;
    }
    return;
}

sub DESTROY ($self) {
    local ($@, $!, $?);
    $self->close;
}

# ----- building and sending requests ------------------------------------------

sub _coerce ($kind, $value) {
    return undef unless defined $value;
    return lc "$value"                                 if $kind eq 'uuid';
    return [ map { 0 + $_ } @$value ]                  if $kind eq 'vec';
    return 0 + $value                                  if $kind eq 'num';
    return int $value                                  if $kind eq 'int';
    return "$value"                                    if $kind eq 'str';
    return $value ? JSON::true : JSON::false           if $kind eq 'bool';
    return [ map { lc "$_" } @$value ]                 if $kind eq 'uuids';
    return [ map { "$_" } @$value ]                    if $kind eq 'strs';
    return encode_base64($value, '')                   if $kind eq 'bytes';
    return $value;
}

sub _field ($spec) { return split /:/, $spec, 3 }

# The request object for a table entry and a method's arguments.
sub _build ($entry, @args) {
    my ($method, $type, $domain, $required, $optional) = @$entry;
    croak "$method needs " . scalar(@$required) . ' argument(s): ' . join(', ', map { (_field($_))[0] } @$required)
        if @args < @$required;
    my %request = ('$type' => $type);
    for my $spec (@$required) {
        my ($name, $wire, $kind) = _field($spec);
        $request{$wire} = _coerce($kind, shift @args);
    }
    croak "$method: odd number of named arguments" if @args % 2;
    my %named = @args;
    for my $spec (@$optional) {
        my ($name, $wire, $kind) = _field($spec);
        $request{$wire} = _coerce($kind, delete $named{$name}) if exists $named{$name};
    }
    croak "$method: unknown argument(s) " . join(', ', sort keys %named) if %named;
    return (\%request, $domain);
}

sub _envelope ($self, $request, $domain, $pre_auth, $async) {
    my %wire = (%$request, _Domain => $domain, _AsyncRequest => $async ? JSON::true : JSON::false);
    $wire{_Scene} = $self->{scene} if defined $self->{scene};
    $wire{_Capability} = $self->{capability} if $self->{capability} && !$pre_auth;
    return \%wire;
}

sub _post ($self, $wire) {
    my $body = $JSON->encode($wire);
    my $response = $self->{ua}->post($self->{url}, 'Content-Type' => 'application/json', Content => $body);
    # A kept-alive connection the host closed while idle: the request never
    # reached a handler, so sending it again on a new connection is safe.
    if (($response->header('Client-Warning') // '') eq 'Internal response'
        && $response->message =~ /closed connection without sending any data/i) {
        $response = $self->{ua}->post($self->{url}, 'Content-Type' => 'application/json', Content => $body);
    }
    if (!$response->is_success) {
        die OpenSim::Dispatcher::Error->new(
            kind => 'transport', status => $response->code, request_type => $wire->{'$type'},
            message => 'HTTP ' . $response->status_line,
        );
    }
    my ($media) = split /;/, lc($response->header('Content-Type') // '');
    $media =~ s/\s+//g if defined $media;
    my $reply = eval { ($media // '') =~ m{^(application|text|test)/json$} ? $JSON->decode($response->content) : undef };
    if (ref $reply ne 'HASH') {
        die OpenSim::Dispatcher::Error->new(
            kind => 'protocol', request_type => $wire->{'$type'},
            message => 'undecodable reply (' . ($media // 'no content type') . ')',
        );
    }
    return $reply;
}

sub _success ($reply) {
    for my $key (keys %$reply) {
        return $reply->{$key} // 0 if lc $key eq '_success';
    }
    return 0;
}

sub _exchange ($self, $entry, $async, @args) {
    my ($request, $domain) = _build($entry, @args);
    $self->renew_if_due unless $entry->[0] eq 'renew_capability' || $entry->[5];
    my $reply = $self->_post($self->_envelope($request, $domain, $entry->[5], $async));
    die OpenSim::Dispatcher::Error->from_reply($reply, $request->{'$type'}) unless _success($reply);
    return $reply;
}

my %ENTRY = map { $_->[0] => $_ } @OpenSim::Dispatcher::Messages::MESSAGES;

# One method per message, made from the table.
for my $entry (@OpenSim::Dispatcher::Messages::MESSAGES) {
    my $method = $entry->[0];
    no strict 'refs';
    *{$method} = sub ($self, @args) { return $self->_exchange($entry, 0, @args) };
}

# Send with _AsyncRequest: the host replies at once with _Success 2 and runs the request later.
sub queued ($self, $method, @args) {
    my $entry = $ENTRY{$method} // croak "unknown message method $method";
    return $self->_exchange($entry, 1, @args);
}

# Fire a request as one UDP datagram to the host's asynchronous binding: no reply, ever.
sub packet ($self, $method, @args) {
    my $entry = $ENTRY{$method} // croak "unknown message method $method";
    my ($request, $domain) = _build($entry, @args);
    if (!$self->{udp}) {
        my $binding = $self->info->{AsyncEndPoint} // '';
        my ($host, $port) = $binding =~ /^\[?(.+?)\]?:(\d+)$/ or croak "bad AsyncEndPoint '$binding'";
        $self->{udp} = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'udp')
            or die OpenSim::Dispatcher::Error->new(kind => 'transport', message => "UDP socket: $!");
    }
    $self->{udp}->send($JSON->encode($self->_envelope($request, $domain, 0, 1)))
        // die OpenSim::Dispatcher::Error->new(kind => 'transport', message => "UDP send: $!");
    return { _Success => 2, _Message => '' };
}

# Members of the envelope, set by the client; a generic call may not carry them.
my %ENVELOPE = map { $_ => 1 } qw($type _domain _scene _capability _asyncrequest);

# The domain of "<Domain>.Messages.<Name>" (the capability's DomainList entry).
sub domain_of ($type_name) {
    my ($domain) = ($type_name // '') =~ /^([A-Za-z_][A-Za-z0-9_]*)\.Messages\.[^.\s]+$/
        or croak "message type must be <Domain>.Messages.<Name>, not '" . ($type_name // '') . "'";
    return $domain;
}

# The request and domain of a generic call: members as given, binary values
# (OpenSim::Dispatcher::bytes) as base64 text.
sub _build_generic ($type_name, $members = {}, %opts) {
    ref $members eq 'HASH' or croak 'call: members must be a hash reference';
    my $domain = $opts{domain} // domain_of($type_name);
    for my $key (keys %$members) {
        croak "call: member '$key' is part of the envelope; the client sets it" if $ENVELOPE{ lc $key };
    }
    return ({ '$type' => $type_name, %{ _generic_value($members) } }, $domain);
}

sub _generic_value ($value) {
    return { map { $_ => _generic_value($value->{$_}) } keys %$value } if ref $value eq 'HASH';
    return [ map { _generic_value($_) } @$value ]                         if ref $value eq 'ARRAY';
    return encode_base64($$value, '')                                     if ref $value eq 'OpenSim::Dispatcher::Binary';
    return $value;
}

# Marks a string as binary for call(): sent as base64 text in JSON.
sub binary ($data) { return bless \(my $copy = $data), 'OpenSim::Dispatcher::Binary' }

# Any request by its $type (an extension's, for instance): returns the reply's
# members, dies with OpenSim::Dispatcher::Error on a failure reply.
sub call ($self, $type_name, $members = {}, %opts) {
    my ($request, $domain) = _build_generic($type_name, $members, %opts);
    $self->renew_if_due;
    my $reply = $self->_post($self->_envelope($request, $domain, 0, $opts{queued} ? 1 : 0));
    die OpenSim::Dispatcher::Error->from_reply($reply, $type_name) unless _success($reply);
    return $reply;
}

# Whether the host has a handler for a message type in our scene.
sub offers ($self, $type_name) {
    for my $key (@{ $self->info->{MessageList} // [] }) {
        my @parts = split /::/, $key;
        next unless $parts[-1] eq $type_name;
        return 1 if @parts < 3 || !defined $self->{scene} || $parts[0] eq $self->{scene};
    }
    return 0;
}

# The address the host sees our requests come from (for CreateEndPoint).
sub local_address ($self) {
    my ($host, $port) = $self->{url} =~ m{^\w+://\[?([^/\]]+?)\]?(?::(\d+))?(?:/|$)} or croak "bad url $self->{url}";
    my $probe = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port // 80, Proto => 'udp')
        or croak "cannot route to $host: $!";
    my $address = $probe->sockhost;
    $probe->close;
    return $address;
}

1;

__END__

=head1 NAME

OpenSim::Dispatcher - client for the OpenSim Dispatcher protocol (Dispatcher, RemoteControl, Scripting, Extensions)

=head1 SYNOPSIS

    use OpenSim::Dispatcher;

    my $client = OpenSim::Dispatcher->connect(
        url      => 'http://127.0.0.1:9000/Dispatcher/',
        user     => 'Ada Lovelace',
        password => 'password',
    );
    my $ids = $client->find_objects(pattern => '^Tile')->{Objects};
    $client->set_object_position($ids->[0], [128, 128, 30]);
    $client->packet('set_object_position', $ids->[0], [129, 128, 30]);   # UDP
    $client->close;    # destroys the capability

=head1 DESCRIPTION

Every request type of the Dispatcher, RemoteControl, Scripting and Extensions domains is a
method named after it in snake case (C<GetObjectPositionRequest> becomes
C<get_object_position>). Required fields are positional arguments, in the order
listed below; optional fields are named arguments after them. Each method
returns the decoded reply (a hash reference with the protocol's member names,
e.g. C<< $reply->{Position} >>) and dies with an L<OpenSim::Dispatcher::Error>
when the host answers C<_Success> 0.

Requests are JSON over HTTP with one kept-alive connection (LWP). Keys are
sent sorted, so C<$type> comes first; envelope members (C<_Domain>, C<_Scene>,
C<_Capability>, C<_AsyncRequest>) are added for you.

=head1 CONSTRUCTORS

=over

=item new(url => URL, scene => NAME, capability => UUID, timeout_seconds => N)

A client without a capability (enough for C<info> and C<message_format>).

=item connect(url => URL, user => "First Last", password => P, %options)

Creates a client and authenticates. Identify with C<user>, C<first_name> and
C<last_name>, C<email> or C<user_id>. Options: C<scene> (default: the host's
first region), C<domains> (array ref, default Dispatcher, RemoteControl,
Scripting, Extensions; add an extension's domain to call it),
C<lifespan_seconds> (default 300), C<renew> (default true).

=back

=head1 CAPABILITY LIFE CYCLE

=over

=item renew_if_due

Renews the capability when half of its granted lifetime has passed. Every
request calls it first, so an active client never expires; call it from idle
loops (L<OpenSim::Dispatcher::Endpoint/poll> does).

=item close

Destroys the capability (best effort) and closes the UDP socket. Also run when
the object goes out of scope.

=back

=head1 SENDING MODES

=over

=item queued($method, @args)

Sends with C<_AsyncRequest> true: the reply is C<< { _Success => 2 } >> at once and
the host runs the request later.

=item packet($method, @args)

Sends one UDP datagram to the host's asynchronous binding; never waits, returns
C<< { _Success => 2 } >>. For high-rate dynamics.

=item call($type_name, \%members, domain => $domain, queued => 1)

Sends any request by its C<$type>, typically one of an extension's domain
(C<< $client->call('Notes.Messages.AddNoteRequest', { Text => 'hi' }) >>), and
returns the reply's members. The domain is the type's first part unless
C<domain> is given; it must be in the capability's C<domains>. Binary members
are wrapped with C<OpenSim::Dispatcher::binary($data)> (sent as base64).
Envelope members (C<$type>, C<_Scene>, C<_Capability>, ...) are refused.
Dies with an L<OpenSim::Dispatcher::Error> on a failure reply.

=item offers($type_name)

True when the host's C<InfoResponse> lists a handler for the type (for our scene).

=back

=head1 MESSAGE METHODS

Dispatcher domain:

    info()
    message_format($message_name)
    create_capability($hashed_passwd, first_name =>, last_name =>, email_address =>,
                      user_id =>, life_span =>, domain_list =>)
    renew_capability(life_span => $seconds)
    destroy_capability()
    create_end_point($callback_host, $callback_port, life_span => $milliseconds)
    renew_end_point($end_point_id, life_span => $milliseconds)
    close_end_point($end_point_id)

RemoteControl domain (vectors are array refs C<[x, y, z]>, rotations C<[x, y, z, w]>):

    find_objects(pattern =>, coordinate_a =>, coordinate_b =>, owner_id =>)
    get_object_data($object_id)          get_object_parts($object_id)
    get_object_inventory($object_id)     get_object_position($object_id)
    set_object_position($object_id, $position)
    get_object_rotation($object_id)      set_object_rotation($object_id, $rotation)
    bulk_dynamics([ { ObjectID => ..., Position => [...], Velocity => [...] }, ... ])
    create_object($asset_id, position =>, rotation =>, velocity =>, name =>,
                  description =>, start_parameter =>, object_id =>)
    create_bulk_objects([ { AssetID => ..., Name => ..., ObjectData => { ObjectID => ..., Position => [...] } } ])
    delete_object($object_id)            delete_bulk_objects([ids])
    delete_all_objects()                 message_object($object_id, $message)
    set_part_position($object_id, $link_num, $position)
    set_part_rotation($object_id, $link_num, $rotation)
    set_part_scale($object_id, $link_num, $scale)
    set_part_color($object_id, $link_num, $color, $alpha)
    test_asset($asset_id)                get_asset($asset_id)
    add_asset({ AssetID =>, SerializedAsset => base64, Name =>, Description =>, ContentType =>, CreatorID => })
    get_asset_from_object($object_id)    get_dependent_assets($asset_id)
    get_avatar_appearance(avatar_id =>)  set_avatar_appearance($json_text, avatar_id =>)
    chat($message, position =>, channel =>)
    get_sun_parameters()
    set_sun_parameters($current_time, day_length =>, year_length =>, horizon_shift =>,
                       day_time_sun_hour_scale =>)
    get_terrain_height($x, $y)           set_terrain_height($x, $y, $height)
    register_touch_callback($object_id, $end_point_id)
    unregister_touch_callback($object_id, $request_id)
    register_updated_callback([object ids], $end_point_id)
    unregister_updated_callback([object ids], $request_id)
    touch_object($object_id, avatar_id =>, link_num =>, touch_position =>)

Scripting domain:

    upload_script($object_id, $name, $wasm_bytes, grants => [...], start_parameter =>, start =>)
    update_script($script_id, $wasm_bytes, grants => [...], start_parameter =>)
    list_scripts(object_id =>)           get_script_status($script_id)
    start_script($script_id)             stop_script($script_id)
    reset_script($script_id)             remove_script($script_id)
    get_script_log($script_id, since => $sequence)

Extensions domain (installing needs a god for the whole host, or the estate
owner or a manager for one region):

    install_extension($wasm_bytes, scope => $region, grants => [...], config =>, start =>)
    list_extensions()                    get_extension_status($extension_id)
    start_extension($extension_id)       stop_extension($extension_id)
    remove_extension($extension_id)
    update_extension($extension_id, $wasm_bytes, grants => [...], config =>)
    get_extension_log($extension_id, since => $sequence)

See L<OpenSim::Dispatcher::Endpoint> to receive touch and position callbacks,
and L<OpenSim::Dispatcher::Objects> to make object assets.

=cut
